"""emanet.utils."""

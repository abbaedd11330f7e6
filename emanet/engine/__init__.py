"""emanet.engine."""

"""emanet.apis."""

"""emanet.datasets."""

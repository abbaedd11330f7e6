"""emanet.datasets.transforms."""

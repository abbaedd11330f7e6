"""emanet.visualization."""

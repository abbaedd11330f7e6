"""emanet.models.segmentors."""

"""emanet.models.decode_heads."""

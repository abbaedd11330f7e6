"""emanet.models."""

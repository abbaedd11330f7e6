"""emanet.models.backbones."""

"""emanet.models.losses."""

"""emanet.evaluation.metrics."""

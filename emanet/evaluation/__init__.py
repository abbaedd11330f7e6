"""Evaluation metrics (registered on import)."""
from .metrics import CityscapesMetric, IoUMetric

__all__ = ['IoUMetric', 'CityscapesMetric']

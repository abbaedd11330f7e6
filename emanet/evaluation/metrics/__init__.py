"""Evaluation metrics."""
from .cityscapes_metric import CityscapesMetric
from .iou_metric import IoUMetric

__all__ = ['IoUMetric', 'CityscapesMetric']

"""Drawing segmentation results."""
from .local_visualizer import SegLocalVisualizer, colorize

__all__ = ['SegLocalVisualizer', 'colorize']

"""Data structures passed between the pipeline, the model and metrics."""
from .seg_data_sample import SegDataSample

__all__ = ['SegDataSample']

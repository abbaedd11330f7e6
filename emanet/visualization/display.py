"""Showing pictures in a window, only where a display exists.

OpenCV's Qt and GTK builds end the whole process when they cannot reach
a display, so every tool asks :func:`display_available` first and falls
back to writing files.
"""
import os
import sys

import numpy as np


def display_available() -> bool:
    """Whether a window can be opened (Linux: ``DISPLAY`` or Wayland)."""
    if sys.platform.startswith('linux'):
        return bool(os.environ.get('DISPLAY')
                    or os.environ.get('WAYLAND_DISPLAY'))
    return True


def show_image(window: str, image: np.ndarray, wait_s: float = 0) -> bool:
    """Show an RGB image in an OpenCV window.

    Args:
        window: the window name.
        image: ``[H, W, 3]`` uint8 RGB.
        wait_s: seconds to wait; 0 waits for a key press.

    Returns:
        bool: False when no window could be opened (no display, or an
        OpenCV built without a GUI); the image was not shown.
    """
    if not display_available():
        return False
    import cv2
    try:
        cv2.imshow(window, np.ascontiguousarray(image[..., ::-1]))
        cv2.waitKey(max(int(wait_s * 1000), 1) if wait_s > 0 else 0)
    except cv2.error:
        return False
    return True

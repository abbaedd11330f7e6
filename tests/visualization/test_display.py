"""Windows only where a display exists: the check, and show_image's
answer where none can be opened."""
import sys

import cv2
import numpy as np
import pytest

from emanet.visualization import display
from emanet.visualization.display import display_available, show_image


@pytest.fixture
def linux_without_display(monkeypatch):
    monkeypatch.setattr(sys, 'platform', 'linux')
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)


def test_linux_needs_x11_or_wayland(linux_without_display, monkeypatch):
    assert display_available() is False
    monkeypatch.setenv('DISPLAY', ':0')
    assert display_available() is True
    monkeypatch.delenv('DISPLAY')
    monkeypatch.setenv('WAYLAND_DISPLAY', 'wayland-0')
    assert display_available() is True
    monkeypatch.setenv('WAYLAND_DISPLAY', '')
    assert display_available() is False


def test_other_systems_have_a_display(monkeypatch):
    monkeypatch.delenv('DISPLAY', raising=False)
    for platform in ('darwin', 'win32'):
        monkeypatch.setattr(sys, 'platform', platform)
        assert display_available() is True


def test_no_display_opens_no_window(linux_without_display, monkeypatch):
    def imshow(*args):
        raise AssertionError('no window without a display')

    monkeypatch.setattr(cv2, 'imshow', imshow)
    assert show_image('w', np.zeros((2, 2, 3), np.uint8)) is False


def test_shows_bgr_and_waits(monkeypatch):
    monkeypatch.setattr(display, 'display_available', lambda: True)
    shown, waits = [], []
    monkeypatch.setattr(cv2, 'imshow',
                        lambda name, image: shown.append((name, image)))
    monkeypatch.setattr(cv2, 'waitKey', waits.append)
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0] = 255  # red
    assert show_image('samples', rgb, wait_s=0.5) is True
    name, image = shown[0]
    assert name == 'samples' and image.shape == (2, 3, 3)
    assert (image[..., 2] == 255).all() and (image[..., 0] == 0).all()
    assert image.flags['C_CONTIGUOUS']
    assert show_image('samples', rgb) is True  # 0: until a key press
    assert show_image('samples', rgb, wait_s=0.0001) is True  # >= 1 ms
    assert waits == [500, 0, 1]


def test_opencv_without_gui_is_no_window(monkeypatch):
    monkeypatch.setattr(display, 'display_available', lambda: True)

    def imshow(*args):
        raise cv2.error('The function is not implemented')

    monkeypatch.setattr(cv2, 'imshow', imshow)
    assert show_image('w', np.zeros((2, 2, 3), np.uint8)) is False

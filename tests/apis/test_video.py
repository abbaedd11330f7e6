"""Video in and out for the demos: sizes, codecs and one-line errors.

The demo over a real model: tests/tools/test_video_demo.py.
"""
import cv2
import numpy as np
import pytest

from emanet.apis.video import (
    DEFAULT_FPS,
    check_video_output,
    open_video,
    open_writer,
    output_size,
)
from emanet.utils.errors import BadDataError, MissingDataError, UserError


@pytest.mark.parametrize('given,expected', [
    ((None, None), (640, 480)),
    ((0, -1), (640, 480)),  # not positive: the input's
    ((320, None), (320, 240)),  # the aspect ratio follows
    ((None, 120), (160, 120)),
    ((100, 100), (100, 100)),  # both given: as given
    ((1, None), (1, 1)),  # never 0 pixels
])
def test_output_size(given, expected):
    assert output_size(640, 480, *given) == expected


@pytest.mark.parametrize('name,fourcc', [('a.mp4', 'mp4v'),
                                         ('a.avi', 'MJPG'),
                                         ('a.MP4', 'mp4v')])
def test_codec_follows_the_extension(tmp_path, name, fourcc):
    assert check_video_output(str(tmp_path / name)) == fourcc


def test_given_codec_overrides_the_extension(tmp_path):
    assert check_video_output(str(tmp_path / 'a.mkv'), 'XVID') == 'XVID'
    with pytest.raises(UserError) as err:
        check_video_output(str(tmp_path / 'a.mp4'), 'h264x')
    assert str(err.value) == ("--output-fourcc 'h264x' is not a "
                              'four-character codec code (e.g. mp4v, MJPG)')


def test_unknown_extension_and_missing_folder_are_refused(tmp_path):
    gif = str(tmp_path / 'a.gif')
    with pytest.raises(UserError) as err:
        check_video_output(gif)
    assert str(err.value) == (f'--output-file {gif}: unknown video type '
                              '.gif; use one of .avi, .mp4')
    deep = str(tmp_path / 'no' / 'a.mp4')
    with pytest.raises(UserError, match=f'folder {tmp_path}/no does not '
                       'exist'):
        check_video_output(deep)
    assert not (tmp_path / 'no').exists()


def test_written_video_opens_with_its_size_rate_and_frames(tmp_path):
    path = str(tmp_path / 'clip.avi')
    writer = open_writer(path, 7.0, (48, 32))
    frames = [np.full((32, 48, 3), 40 * i, np.uint8) for i in range(3)]
    for frame in frames:
        writer.write(frame)
    writer.release()
    capture, info = open_video(path)
    try:
        assert info == dict(fps=7.0, width=48, height=32, frames=3)
        for frame in frames:
            ok, read = capture.read()
            assert ok and read.shape == (32, 48, 3)
            # MJPG is lossy, but a flat frame stays close to its value
            assert abs(float(read.mean()) - frame[0, 0, 0]) < 3
        assert not capture.read()[0]
    finally:
        capture.release()


def test_open_video_errors_are_one_line(tmp_path):
    missing = str(tmp_path / 'none.mp4')
    with pytest.raises(MissingDataError) as err:
        open_video(missing)
    assert str(err.value) == f'video file {missing} does not exist'
    text = tmp_path / 'notes.mp4'
    text.write_text('not a video')
    with pytest.raises(BadDataError) as err:
        open_video(str(text))
    assert str(err.value) == f'cannot open {text} as a video'


def test_camera_without_a_rate_gets_the_default(monkeypatch):
    class Camera:
        def __init__(self, index):
            assert index == 0  # '0' is a camera index, not a file

        def isOpened(self):
            return True

        def get(self, prop):
            return {cv2.CAP_PROP_FRAME_WIDTH: 64.0,
                    cv2.CAP_PROP_FRAME_HEIGHT: 48.0}.get(prop, 0.0)

    monkeypatch.setattr(cv2, 'VideoCapture', Camera)
    _, info = open_video('0')
    assert info == dict(fps=DEFAULT_FPS, width=64, height=48, frames=None)


def test_camera_that_cannot_open_is_named(monkeypatch):
    class Closed:
        def __init__(self, index):
            pass

        def isOpened(self):
            return False

    monkeypatch.setattr(cv2, 'VideoCapture', Closed)
    with pytest.raises(BadDataError, match='^cannot open camera 3$'):
        open_video('3')


def test_writer_that_cannot_open_says_what_to_try(tmp_path, monkeypatch):
    class Closed:
        def __init__(self, *args):
            pass

        def isOpened(self):
            return False

    monkeypatch.setattr(cv2, 'VideoWriter', Closed)
    path = str(tmp_path / 'a.mp4')
    with pytest.raises(UserError) as err:
        open_writer(path, 5.0, (8, 8))
    assert str(err.value) == (f'cannot write {path} with codec mp4v; try '
                              'an .mp4 (mp4v) or .avi (MJPG) file')

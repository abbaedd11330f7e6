"""Video in and out for the demos: OpenCV captures and writers whose
failures are one-line :class:`~emanet.utils.errors.UserError` messages."""
import os.path as osp
from typing import Optional, Tuple

import cv2

from emanet.utils.errors import BadDataError, MissingDataError, UserError
from emanet.utils.output_paths import check_output_file

# Codec by output extension: files common players open.
FOURCC_BY_EXT = {'.mp4': 'mp4v', '.avi': 'MJPG'}
DEFAULT_FPS = 30.0  # for cameras that report no frame rate


def open_video(source: str) -> Tuple[cv2.VideoCapture, dict]:
    """Open a video file, or a camera given by its index (``'0'``).

    Returns:
        tuple: the capture and its ``fps``, ``width``, ``height`` and
        ``frames`` (None for a camera or an unknown count).

    Raises:
        MissingDataError: the file does not exist.
        BadDataError: it cannot be opened as a video (or the camera
            cannot be opened).
    """
    is_camera = source.isdigit()
    if not is_camera and not osp.isfile(source):
        raise MissingDataError(f'video file {source} does not exist')
    capture = cv2.VideoCapture(int(source) if is_camera else source)
    if not capture.isOpened():
        what = f'camera {source}' if is_camera else f'{source} as a video'
        raise BadDataError(f'cannot open {what}')
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    info = dict(
        fps=capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS,
        width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        frames=frames if frames > 0 and not is_camera else None)
    return capture, info


def output_size(width: int, height: int, out_width: Optional[int],
                out_height: Optional[int]) -> Tuple[int, int]:
    """The written frame size ``(width, height)``.

    Unset (None or not positive) sizes keep the input's; one given size
    scales the other with the aspect ratio.
    """
    out_width = out_width if out_width and out_width > 0 else None
    out_height = out_height if out_height and out_height > 0 else None
    if out_width is None and out_height is None:
        return width, height
    if out_height is None:
        out_height = max(round(height * out_width / width), 1)
    if out_width is None:
        out_width = max(round(width * out_height / height), 1)
    return out_width, out_height


def check_video_output(path: str, fourcc: Optional[str] = None) -> str:
    """The codec for ``path``, checked before any frame is computed
    (:func:`~emanet.utils.output_paths.check_output_file`).

    Returns:
        str: ``fourcc``, or the one of the extension when not given.

    Raises:
        UserError: unknown extension, bad codec code, missing folder, a
            folder or a place that cannot be written.
    """
    check_output_file(
        path, '--output-file',
        suffixes=tuple(FOURCC_BY_EXT) if fourcc is None else None,
        what='video', folder_must_exist=True)
    if fourcc is None:
        fourcc = FOURCC_BY_EXT[osp.splitext(path)[1].lower()]
    if len(fourcc) != 4:
        raise UserError(f'--output-fourcc {fourcc!r} is not a '
                        'four-character codec code (e.g. mp4v, MJPG)')
    return fourcc


def open_writer(path: str, fps: float, size: Tuple[int, int],
                fourcc: Optional[str] = None) -> cv2.VideoWriter:
    """A video writer; the codec follows the extension unless given.

    Args:
        path: ``.mp4`` (``mp4v``) or ``.avi`` (``MJPG``).
        fps: frames per second.
        size: ``(width, height)``.
        fourcc: four-character codec code, overriding the extension's.

    Raises:
        UserError: unknown extension, bad codec code, or the file cannot
            be written.
    """
    fourcc = check_video_output(path, fourcc)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps,
                             size)
    if not writer.isOpened():
        raise UserError(f'cannot write {path} with codec {fourcc}; try '
                        'an .mp4 (mp4v) or .avi (MJPG) file')
    return writer

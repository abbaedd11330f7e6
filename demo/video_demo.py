"""Segment every frame of a video (or a camera) and write the overlays.

Example::

    python demo/video_demo.py dashcam.mp4 \\
        configs/emanet/emanet_r18-d8_1xb4-400_cityscapes-demo-256x512.py \\
        work_dirs/emanet_r18-d8_1xb4-400_cityscapes-demo-256x512/iter_400.pth \\
        --output-file result.mp4

``VIDEO`` is a file OpenCV reads or a camera index (``0``); the model a
checkpoint or an exported ``.onnx`` (``--backend``).
"""  # noqa: E501
import argparse
import os
import sys
import time
from typing import List, Optional

import cv2
import numpy as np
from mmengine.structures import PixelData
from tqdm import tqdm

from emanet.apis import inference_model, init_model, resolve_device
from emanet.apis.tool_run import prepare_tool_run
from emanet.apis.utils import (
    non_negative_int,
    opacity_type,
    positive_float,
    positive_int,
)
from emanet.apis.video import (
    check_video_output,
    open_video,
    open_writer,
    output_size,
)
from emanet.config import load_config
from emanet.deploy.runtime.backends import BACKENDS
from emanet.utils.errors import DEBUG_HELP, UserError, run_tool
from emanet.visualization import SegLocalVisualizer
from emanet.visualization.display import display_available, show_image


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Segment a video and write the colour overlays')
    parser.add_argument('video', help='video file, or a camera index (0)')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        'checkpoint', help='checkpoint, or an exported .onnx model')
    parser.add_argument(
        '--output-file',
        help='video to write (.mp4 with mp4v, or .avi with MJPG)')
    parser.add_argument(
        '--output-fourcc',
        help='codec of --output-file (default: mp4v for .mp4, MJPG for '
        '.avi)')
    parser.add_argument(
        '--show', action='store_true',
        help='show the overlays in a window (where a display exists)')
    parser.add_argument(
        '--show-wait-time', type=non_negative_int, default=1,
        help='milliseconds each shown frame waits')
    parser.add_argument(
        '--opacity', type=opacity_type, default=0.5,
        help='opacity of the colour mask, in (0, 1]')
    parser.add_argument(
        '--device', default=None,
        help='e.g. cpu or cuda:0 (default: cuda when available)')
    parser.add_argument(
        '--backend', choices=sorted(BACKENDS),
        help='runtime of an exported model')
    parser.add_argument(
        '--output-fps', type=positive_float,
        help='frame rate of the output (default: the input\'s)')
    parser.add_argument(
        '--output-height', type=positive_int,
        help='height of the output (default: the input\'s; one of '
        'height/width alone keeps the aspect ratio)')
    parser.add_argument(
        '--output-width', type=positive_int,
        help='width of the output (default: the input\'s)')
    parser.add_argument(
        '--max-frames', type=positive_int,
        help='stop after N frames (a camera runs until Ctrl-C otherwise)')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


def overlay(visualizer: SegLocalVisualizer, model, frame: np.ndarray
            ) -> np.ndarray:
    """One BGR frame with its prediction blended in (BGR out)."""
    result = inference_model(model, frame)
    pred = result.pred_sem_seg.data.cpu()  # [1, H, W]
    drawn = visualizer.draw_sem_seg(frame[..., ::-1].copy(),
                                    PixelData(data=pred))  # RGB
    return np.ascontiguousarray(drawn[..., ::-1])


def main(argv: Optional[List[str]] = None) -> dict:
    """Run; returns ``frames`` written and their ``size`` and ``fps``."""
    args = parse_args(argv)
    show = args.show and display_available()
    if args.output_file is None and not show:
        why = ('no display to show on' if args.show else 'neither '
               '--output-file nor --show given')
        raise UserError(f'nothing to do: {why}; give --output-file '
                        'OUT.mp4')
    if args.show and not show:
        print('no display (DISPLAY is not set): writing the video only')
    if args.output_file is not None:
        check_video_output(args.output_file, args.output_fourcc)
    capture, info = open_video(args.video)
    try:
        # Cheap checks before the model is built, each failing in one line.
        cfg = load_config(args.config)
        prepare_tool_run(cfg, model_file=args.checkpoint)
        device = resolve_device(args.device)
        model = init_model(cfg, args.checkpoint, device=str(device),
                           backend=args.backend)
    except BaseException:
        capture.release()
        raise
    meta = model.dataset_meta or {}
    visualizer = SegLocalVisualizer(
        name=f'video_demo_{id(model)}', classes=meta.get('classes'),
        palette=meta.get('palette'), alpha=args.opacity)
    size = output_size(info['width'], info['height'], args.output_width,
                       args.output_height)
    fps = args.output_fps or info['fps']
    writer = None
    if args.output_file is not None:
        writer = open_writer(args.output_file, fps, size,
                             args.output_fourcc)
    total = info['frames']
    if args.max_frames is not None:
        total = min(total or args.max_frames, args.max_frames)
    bar = tqdm(total=total, unit='frame', desc='video', dynamic_ncols=True)
    count, start = 0, time.perf_counter()
    try:
        while args.max_frames is None or count < args.max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            drawn = overlay(visualizer, model, frame)
            if drawn.shape[1::-1] != size:
                drawn = cv2.resize(drawn, size,
                                   interpolation=cv2.INTER_LINEAR)
            if writer is not None:
                writer.write(drawn)
            if show and not show_image('video_demo', drawn[..., ::-1],
                                       args.show_wait_time / 1000):
                show = False
            count += 1
            bar.update(1)
    finally:
        bar.close()
        capture.release()
        if writer is not None:
            writer.release()
    if count == 0:
        if writer is not None:
            os.remove(args.output_file)  # an empty video helps no one
        raise UserError(f'no frame could be read from {args.video}; is it '
                        'a video?')
    seconds = time.perf_counter() - start
    where = f' to {args.output_file}' if writer is not None else ''
    print(f'{count} frames of {size[0]}x{size[1]} at {fps:g} fps written'
          f'{where} ({count / seconds:.1f} frames/s)')
    return dict(frames=count, size=size, fps=fps)


if __name__ == '__main__':
    sys.exit(run_tool(main))

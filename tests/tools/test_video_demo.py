"""demo/video_demo.py over a short synthetic video."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest

from emanet.apis import inference_model, init_model
from emanet.utils.errors import run_tool

from helpers.tool_loader import load_tool

TOOL = 'demo/video_demo.py'
FRAMES = 4


@pytest.fixture(scope='module')
def video(demo_data_root, tmp_path_factory):
    """A 4-frame 128x256 mp4 of demo street scenes, and its frames."""
    images = sorted(glob.glob(osp.join(
        demo_data_root, 'leftImg8bit', '*', '*', '*.png')))[:FRAMES]
    path = str(tmp_path_factory.mktemp('video') / 'street.mp4')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 5,
                             (256, 128))
    for image in images:
        writer.write(cv2.resize(cv2.imread(image), (256, 128)))
    writer.release()
    return path, _frames(path)


def _frames(path):
    capture = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


@pytest.mark.slow
def test_overlays_every_frame(video, tiny_trained, tmp_path, capsys):
    config, ckpt = tiny_trained
    path, frames = video
    assert len(frames) == FRAMES
    out = str(tmp_path / 'out.mp4')
    result = load_tool(TOOL).main([path, config, ckpt, '--output-file', out,
                                   '--device', 'cpu', '--opacity', '0.6'])
    assert result == dict(frames=FRAMES, size=(256, 128), fps=5)
    assert f'{FRAMES} frames of 256x128 at 5 fps written to {out}' in \
        capsys.readouterr().out
    written = _frames(out)
    assert len(written) == FRAMES
    model = init_model(config, ckpt, device='cpu')
    palette = np.asarray(model.dataset_meta['palette'])[..., ::-1]  # BGR
    for frame, drawn in zip(frames, written):
        assert drawn.shape == frame.shape == (128, 256, 3)
        pred = inference_model(model, frame).pred_sem_seg.data[0].numpy()
        expected = frame * 0.4 + palette[pred] * 0.6  # the overlay
        # where a class colour is far from the image, the output moved
        far = np.abs(palette[pred] - frame.astype(float)).sum(2) > 150
        assert far.mean() > 0.1
        moved = np.abs(drawn.astype(float) - frame).sum(2)  # [H, W]
        assert moved[far].mean() > 60
        # and it is the overlay, up to mp4v compression
        assert np.abs(drawn - expected).mean() < 8


@pytest.mark.slow
def test_output_size_and_fps_options(video, tiny_trained, tmp_path):
    config, ckpt = tiny_trained
    path, _ = video
    out = str(tmp_path / 'small.avi')
    result = load_tool(TOOL).main([
        path, config, ckpt, '--output-file', out, '--output-height', '64',
        '--output-fps', '10', '--max-frames', '2'])
    assert result == dict(frames=2, size=(128, 64), fps=10)
    capture = cv2.VideoCapture(out)
    assert capture.get(cv2.CAP_PROP_FPS) == 10
    written = _frames(out)
    assert len(written) == 2 and written[0].shape == (64, 128, 3)


def test_bad_input_is_one_error_line(video, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    path, _ = video
    tool = load_tool(TOOL)
    config = str(tmp_path / 'unused.py')  # never read: input fails first
    text = tmp_path / 'notes.mp4'
    text.write_text('not a video')
    missing = str(tmp_path / 'none.mp4')
    out = str(tmp_path / 'out.mp4')
    cases = [
        ([missing, config, 'x.pth', '--output-file', out],
         f'error: video file {missing} does not exist'),
        ([str(text), config, 'x.pth', '--output-file', out],
         f'error: cannot open {text} as a video'),
        ([path, config, 'x.pth', '--output-file', str(tmp_path / 'o.gif')],
         f'error: --output-file {tmp_path}/o.gif: unknown video type .gif; '
         'use one of .avi, .mp4'),
        ([path, config, 'x.pth'],
         'error: nothing to do: neither --output-file nor --show given; '
         'give --output-file OUT.mp4'),
        ([path, config, 'x.pth', '--show'],
         'error: nothing to do: no display to show on; give --output-file '
         'OUT.mp4'),
    ]
    for argv, message in cases:
        assert run_tool(tool.main, argv) == 1, argv
        last = capsys.readouterr().err.splitlines()[-1]
        assert last.startswith('error: ')
        if message is not None:
            assert last == message


@pytest.mark.slow
def test_exported_model_gives_the_checkpoints_video(video, tiny_trained,
                                                    tiny_trained_onnx,
                                                    tmp_path):
    config, ckpt = tiny_trained
    path, _ = video
    onnx_file = tiny_trained_onnx
    outputs = {}
    for name, model in (('ckpt', ckpt), ('onnx', onnx_file)):
        out = str(tmp_path / f'{name}.mp4')
        load_tool(TOOL).main([path, config, model, '--output-file', out,
                              '--max-frames', '2'])
        outputs[name] = _frames(out)
    assert len(outputs['onnx']) == 2
    for ours, theirs in zip(outputs['onnx'], outputs['ckpt']):
        # the same predictions up to a few border pixels, then mp4v
        assert np.abs(ours.astype(float) - theirs).mean() < 2

"""tools/analysis_tools/browse_dataset.py on the tiny demo config."""
import glob

import cv2
import numpy as np
import pytest
from mmengine.runner import set_random_seed

from emanet.config import load_config
from emanet.datasets.builder import build_split_dataset
from emanet.utils.errors import run_tool
from emanet.visualization.label_panels import GAP

from helpers.tiny_demo import write_tiny_config
from helpers.tool_loader import load_tool


@pytest.fixture(scope='module')
def tiny_config(demo_data_root, tmp_path_factory) -> str:
    return write_tiny_config(
        tmp_path_factory.mktemp('cfg') / 'tiny_demo.py', demo_data_root)


@pytest.fixture(autouse=True)
def _no_display(monkeypatch):
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)


def test_train_samples_are_what_the_pipeline_gives(tiny_config, tmp_path,
                                                   capsys):
    tool = load_tool('tools/analysis_tools/browse_dataset.py')
    out_dir = tmp_path / 'browse'
    written = tool.main([tiny_config, '--output-dir', str(out_dir),
                         '--max-images', '3'])  # no --not-show: no display
    out = capsys.readouterr().out
    assert 'no display (DISPLAY is not set)' in out
    assert '3 train samples written' in out
    assert sorted(written) == sorted(glob.glob(str(out_dir / '*.png')))
    assert len(written) == 3

    # The same samples again, seeded as the tool seeds (randomness.seed).
    cfg = load_config(tiny_config)
    set_random_seed(cfg.randomness.seed)
    dataset = build_split_dataset(cfg, 'train')
    for idx, path in enumerate(written):  # written in sample order
        item = dataset[idx]
        picture = cv2.imread(path)[..., ::-1]
        image = item['inputs'].permute(1, 2, 0).numpy()[..., ::-1]  # RGB
        height, width = image.shape[:2]
        assert height <= 64 and width <= 128  # crops of at most 64x128
        # image | labels, then the legend
        assert picture.shape[1] == 2 * width + GAP
        np.testing.assert_array_equal(picture[:height, :width], image)
        expected = tool.sample_picture(item, dataset.metainfo, 255)
        np.testing.assert_array_equal(picture, expected)


def test_val_labels_shown_at_the_resized_image_size(tiny_config, tmp_path):
    tool = load_tool('tools/analysis_tools/browse_dataset.py')
    written = tool.main([tiny_config, '--output-dir', str(tmp_path),
                         '--split', 'val', '--not-show'])
    assert len(written) == 2  # the whole val split
    picture = cv2.imread(written[0])
    assert picture.shape[1] == 2 * 128 + GAP  # resized to 64x128
    labels = picture[:64, 128 + GAP:]
    # the demo's ego-vehicle band is ignored: hatched black and white
    bottom = np.unique(labels[-2:].reshape(-1, 3), axis=0).tolist()
    assert bottom == [[0, 0, 0], [255, 255, 255]]


@pytest.mark.parametrize('argv, message', [
    (['--not-show'], 'error: nothing to do: --not-show; give --output-dir '
     'DIR to write the samples as PNGs'),
    ([], 'error: nothing to do: no display to show on (DISPLAY is not '
     'set); give --output-dir DIR to write the samples as PNGs'),
])
def test_nothing_to_do_is_one_error_line(tiny_config, argv, message,
                                         capsys):
    tool = load_tool('tools/analysis_tools/browse_dataset.py')
    assert run_tool(tool.main, [tiny_config, *argv]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == message


def test_unknown_split_and_missing_config(tiny_config, tmp_path, capsys):
    tool = load_tool('tools/analysis_tools/browse_dataset.py')
    with pytest.raises(SystemExit):
        tool.main([tiny_config, '--split', 'dev'])
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        "error: argument --split: invalid choice: 'dev' (choose from "
        "'train', 'val', 'test')")
    missing = str(tmp_path / 'none.py')
    assert run_tool(tool.main, [missing, '--output-dir', str(tmp_path)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f'error: config file {missing} does not exist')

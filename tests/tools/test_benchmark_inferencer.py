"""tools/analysis_tools/benchmark_inferencer.py: its runs measure what
they say, on the same images; the whole tool on a tiny folder."""
import glob
import os.path as osp

import pytest

from helpers.tool_loader import load_tool


@pytest.fixture(scope='module')
def tool():
    return load_tool('tools/analysis_tools/benchmark_inferencer.py')


def test_image_folder_links_the_first_images_with_labels(
        tool, demo_data_root, tmp_path):
    root = tool.image_folder(str(tmp_path), 1, demo_data_root)
    images = glob.glob(osp.join(root, 'leftImg8bit', 'val', '*', '*.png'))
    labels = glob.glob(osp.join(root, 'gtFine', 'val', '*',
                                '*_labelTrainIds.png'))
    assert len(images) == len(labels) == 1
    assert osp.islink(images[0])
    assert tool.image_folder(str(tmp_path), 1, demo_data_root) == root


@pytest.mark.slow
def test_runs_of_both_tools_on_the_same_images(tool, tiny_trained,
                                               tmp_path, capsys):
    config, ckpt = tiny_trained
    results = tool.main([config, ckpt, '--work-dir', str(tmp_path),
                         '--num-images', '2', '--batch-size', '1',
                         '--rss-images', '--num-workers', '0'])
    # batch 1 is both the baseline and the --batch-size run: one run
    assert set(results) == {'test.py', 'inferencer_b1'}
    for result in results.values():
        assert result['images'] == 2 and result['images_per_s'] > 0
        assert result['peak_rss_mib'] > 100
    out = capsys.readouterr().out
    assert 'inferencer (batch 1) / tools/test.py: ' in out
    preds = glob.glob(str(tmp_path / 'out' / '*' / 'pred' / '**' / '*.png'),
                      recursive=True)
    assert len(preds) == 4  # test.py and the inferencer run

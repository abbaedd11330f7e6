"""demo/image_demo.py on the session's tiny trained model: the overlay
it writes and returns, and the classes it reports."""
import glob
import os.path as osp
import re

import cv2
import numpy as np
import pytest

from emanet.utils.errors import MissingDataError

from helpers.tool_loader import load_tool

TOOL = 'demo/image_demo.py'


@pytest.mark.slow
def test_image_demo_writes_overlay(tiny_trained, demo_data_root, tmp_path,
                                   capsys):
    config, ckpt = tiny_trained
    img = sorted(glob.glob(osp.join(demo_data_root, 'leftImg8bit', 'val',
                                    '*', '*.png')))[0]
    out_file = str(tmp_path / 'demo.png')
    drawn = load_tool(TOOL).main(
        [img, config, ckpt, '--out-file', out_file, '--device', 'cpu'])
    assert drawn.shape == (256, 512, 3)
    written = cv2.imread(out_file)
    assert written.shape == (256, 512, 3)
    # the returned overlay is RGB, the file BGR
    np.testing.assert_array_equal(written[..., ::-1], drawn)
    assert not np.array_equal(drawn, cv2.imread(img)[..., ::-1])
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f'overlay saved to {out_file}'
    shares = re.findall(r'(\d+\.\d)%', out[-2])
    assert out[-2].startswith('predicted classes: ')
    assert sum(float(s) for s in shares) == pytest.approx(100, abs=0.1 *
                                                          len(shares))


@pytest.mark.slow
def test_missing_image_is_named_before_the_model_loads(tiny_trained,
                                                       tmp_path):
    config, ckpt = tiny_trained
    missing = str(tmp_path / 'none.png')
    with pytest.raises(MissingDataError) as err:
        load_tool(TOOL).main([missing, config, ckpt, '--out-file',
                              str(tmp_path / 'o.png')])
    assert str(err.value) == f'image file {missing} does not exist'
    assert not (tmp_path / 'o.png').exists()


def test_defaults():
    args = load_tool(TOOL).parse_args(['i.png', 'c.py', 'm.pth'])
    assert (args.out_file, args.opacity, args.device, args.with_labels,
            args.allow_partial_weights) == ('result.png', 0.5, None, False,
                                            False)

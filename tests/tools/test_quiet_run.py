"""A training run prints no WARNING line and raises no Python warning."""
import warnings

import pytest

from helpers.tiny_demo import TOOLS_EXTRA, write_tiny_config
from helpers.tool_loader import load_tool

BF16_FALLBACK = 'running float32 instead of bfloat16'
HIDDEN_BY_DEFAULT = (DeprecationWarning, PendingDeprecationWarning,
                     ImportWarning, ResourceWarning)


@pytest.mark.slow
def test_tiny_training_run_is_quiet(demo_data_root, tmp_path, capfd):
    config = write_tiny_config(tmp_path / 'tiny.py', demo_data_root,
                               TOOLS_EXTRA)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        # What Python hides by default outside __main__ (mmengine's imports
        # use the deprecated torch.jit.script); everything else counts.
        for category in HIDDEN_BY_DEFAULT:
            warnings.filterwarnings('ignore', category=category)
        metrics = load_tool('tools/train.py').main(
            [config, '--work-dir', str(tmp_path / 'work')])
    out, err = capfd.readouterr()
    assert 'mIoU' in metrics and 'mIoU: ' in out
    assert [str(w.message) for w in caught] == []
    noisy = [line for line in (out + err).splitlines()
             if 'WARNING' in line or 'Warning' in line]
    assert noisy == []
    # The bf16 notice, where it applies, is one INFO line.
    assert sum(BF16_FALLBACK in line for line in out.splitlines()) <= 1

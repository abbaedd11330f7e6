"""One tiny training run shared by the tool tests of a session.

The tiny config of ``tiny_demo.py`` trained 2 iterations on the session's
demo data; tests that only need a trained checkpoint take it from here
instead of training their own.
"""
import os.path as osp
from typing import Dict, Tuple

from tiny_demo import TOOLS_EXTRA, write_tiny_config
from tool_loader import load_tool

_RUNS: Dict[str, Tuple[str, str]] = {}


def tiny_trained(tmp_path_factory, demo_data_root: str) -> Tuple[str, str]:
    """The tiny config and its trained checkpoint (trained once).

    Args:
        tmp_path_factory: pytest's session factory of folders.
        demo_data_root: the ``demo_data_root`` fixture.

    Returns:
        tuple: ``(config file, checkpoint file)``; treat both as
        read-only.
    """
    if demo_data_root not in _RUNS:
        folder = tmp_path_factory.mktemp('tiny_trained')
        config = write_tiny_config(folder / 'tiny_demo.py', demo_data_root,
                                   TOOLS_EXTRA)
        work_dir = str(folder / 'work')
        load_tool('tools/train.py').main(
            [config, '--work-dir', work_dir, '--seed', '0'])
        _RUNS[demo_data_root] = (config, osp.join(work_dir, 'iter_2.pth'))
    return _RUNS[demo_data_root]

"""tools/analysis_tools/get_flops.py on the tiny config: the inference
path's parameters and FLOPs, and one line of uncounted operators."""
import re

import pytest

from emanet.config import load_config
from emanet.models.builder import build_model_outside_runner

from helpers.tiny_demo import write_tiny_config
from helpers.tool_loader import load_tool

TOOL = 'tools/analysis_tools/get_flops.py'


@pytest.fixture(scope='module')
def tiny_config(demo_data_root, tmp_path_factory) -> str:
    return write_tiny_config(tmp_path_factory.mktemp('flops') / 'tiny.py',
                             demo_data_root)


def test_counts_the_inference_path_only(tiny_config, capsys):
    result = load_tool(TOOL).main([tiny_config, '--shape', '64', '128'])
    model = build_model_outside_runner(load_config(tiny_config).model)
    everything = sum(p.numel() for p in model.parameters())
    auxiliary = sum(p.numel() for p in model.auxiliary_head.parameters())
    # the auxiliary head trains only: it is in neither count
    assert result['params'] == everything - auxiliary
    out = capsys.readouterr().out
    assert 'Input shape: (3, 64, 128)' in out
    assert f'Params: {result["params"] / 1e6:.2f} M' in out
    assert f'FLOPs: {result["flops"] / 1e9:.2f} G' in out


def test_flops_grow_with_the_pixels(tiny_config):
    main = load_tool(TOOL).main
    small = main([tiny_config, '--shape', '16', '32'])['flops']
    large = main([tiny_config, '--shape', '32', '64'])['flops']
    square = main([tiny_config, '--shape', '32'])['flops']
    # every counted operator is linear in the pixels (convolutions, the
    # EM attention's products, the resizes)
    assert large == pytest.approx(4 * small, rel=0.02)
    assert square == pytest.approx(large / 2, rel=0.02)


def test_lists_uncounted_operators_in_one_line(tmp_path, capsys):
    config = write_tiny_config(tmp_path / 'tiny.py', str(tmp_path))
    result = load_tool(TOOL).main([config, '--shape', '32', '64'])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert result['flops'] > 0
    assert 'Unsupported operator' not in text
    assert 'never called' not in text
    lines = [line for line in text.splitlines()
             if line.startswith('operators without a FLOP formula')]
    assert len(lines) == 1
    # The residual additions and the EM softmax, with how often they ran.
    assert re.search(r'\badd_? x\d+', lines[0])
    assert re.search(r'\bsoftmax x\d+', lines[0])


def test_shape_takes_one_or_two_sizes(capsys):
    parse = load_tool(TOOL).parse_args
    assert parse(['c.py']).shape == [1024, 2048]
    with pytest.raises(SystemExit):
        parse(['c.py', '--shape', '1', '2', '3'])
    assert '--shape takes H W or one size, got [1, 2, 3]' in \
        capsys.readouterr().err

"""What a backend segmentor lets other code do with its network: call it
(``run_network``), run another function in its place (``use_network``)
and collect its inputs without running it (``recording_inputs``)."""
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from emanet.deploy.runtime.backends import BACKENDS, backend_model_cfg
from emanet.deploy.runtime.export import export_onnx
from emanet.registry import MODELS

from helpers.tiny_emanet import build_plain_model

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics

SLIDE = dict(mode='slide', crop_size=(48, 48), stride=(32, 32))


@pytest.fixture(scope='module')
def onnx_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('segmentor') / 'tiny.onnx')
    export_onnx(build_plain_model(), path, (64, 64), dynamic=True)
    return path


def build(onnx_file, backend, **test_cfg):
    init_default_scope('emanet')
    return MODELS.build(backend_model_cfg(dict(
        data_preprocessor=dict(type='SegDataPreProcessor'),
        decode_head=dict(align_corners=False), test_cfg=test_cfg),
        onnx_file, backend))


@pytest.mark.parametrize('backend', sorted(BACKENDS))
def test_run_network_is_the_forward_of_the_runtime(onnx_file, backend):
    model = build(onnx_file, backend)
    x = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    logits = model.run_network(x.numpy())
    assert logits.shape == (2, 5, 8, 12) and logits.dtype == np.float32
    again = model.run_network(np.zeros((1, 3, 64, 64), np.float32))
    assert again.shape == (1, 5, 8, 8)
    # an array of its own: the next call did not write into the first
    np.testing.assert_array_equal(logits, model._forward(x).numpy())


@pytest.mark.parametrize('backend', sorted(BACKENDS))
def test_use_network_replaces_the_network_in_the_block(onnx_file,
                                                        backend):
    model = build(onnx_file, backend)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    own = model._forward(x)
    seen = []

    def doubled(inputs):
        seen.append(inputs.shape)
        return 2 * model.run_network(inputs)

    with model.use_network(doubled):
        torch.testing.assert_close(model._forward(x), 2 * own)
        with model.use_network(lambda inputs: 0 * doubled(inputs)):
            assert not model._forward(x).any()
        torch.testing.assert_close(model._forward(x), 2 * own)
    torch.testing.assert_close(model._forward(x), own)
    assert seen == [(1, 3, 64, 64)] * 3
    with pytest.raises(RuntimeError, match='boom'):
        with model.use_network(doubled):
            raise RuntimeError('boom')
    torch.testing.assert_close(model._forward(x), own)  # put back


def test_recording_inputs_gives_the_windows_the_network_sees(onnx_file):
    model = build(onnx_file, 'onnxruntime', **SLIDE)
    image = torch.randint(0, 256, (3, 80, 112), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(2))
    calls = []
    with model.use_network(lambda inputs: (
            calls.append(inputs.copy()), model.run_network(inputs))[1]):
        expected = model.test_step(dict(inputs=[image]))
    with model.recording_inputs() as record:
        skipped = model.test_step(dict(inputs=[image]))
    # 2 x 3 slide windows of 48x48, as the network gets them
    assert len(record) == len(calls) == 6
    for got, want in zip(record, calls):
        assert got.shape == (1, 3, 48, 48) and got.dtype == np.float32
        np.testing.assert_array_equal(got, want)
    # the network did not run: zero logits, every pixel class 0
    assert not skipped[0].seg_logits.data.any()
    assert expected[0].seg_logits.data.any()
    with model.recording_inputs() as record:  # nothing recorded after
        pass
    model.test_step(dict(inputs=[image]))
    assert record == []

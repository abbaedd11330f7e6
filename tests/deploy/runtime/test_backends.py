"""The backend table and the backend segmentors' construction.

Their predictions against PyTorch are in ``test_export.py``, the network
API they share in ``test_segmentor.py``; the tools on an exported model in
``tests/tools/test_pytorch2onnx.py``.
"""
import gc

import pytest
import torch
from mmengine.registry import init_default_scope

from emanet.deploy.runtime.backends import (
    BACKENDS,
    DEFAULT_BACKEND,
    ONNXRuntimeSegmentor,
    OpenVINOSegmentor,
    backend_model_cfg,
    backend_of,
    default_backend,
)
from emanet.deploy.runtime.export import export_onnx
from emanet.deploy.runtime.segmentor import BackendSegmentor
from emanet.models.segmentors import BaseSegmentor
from emanet.registry import MODELS
from emanet.utils.errors import UserError

from helpers.other_device import on_other_device
from helpers.tiny_emanet import build_plain_model

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics

MODEL_CFG = dict(data_preprocessor=dict(type='SegDataPreProcessor'),
                 decode_head=dict(align_corners=False),
                 test_cfg=dict(mode='whole'))


@pytest.fixture(scope='module')
def onnx_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('backends') / 'tiny.onnx')
    export_onnx(build_plain_model(), path, (64, 64), dynamic=True)
    return path


def test_table_names_registered_backend_segmentors():
    assert DEFAULT_BACKEND in BACKENDS
    for backend, type_name in BACKENDS.items():
        cls = MODELS.get(type_name)
        assert cls is not None and issubclass(cls, BackendSegmentor), backend


def test_default_backend_by_suffix():
    assert default_backend('m.onnx') == DEFAULT_BACKEND
    assert default_backend('m_int8.XML') == 'openvino'


def test_backend_model_cfg_defaults_and_refuses_unknown():
    cfg = backend_model_cfg(MODEL_CFG, 'm.onnx')
    assert cfg['type'] == BACKENDS[DEFAULT_BACKEND]
    assert cfg['model_file'] == 'm.onnx' and cfg['test_cfg'] == {
        'mode': 'whole'}
    assert cfg['data_preprocessor'] is not MODEL_CFG['data_preprocessor']
    assert backend_model_cfg(MODEL_CFG, 'm.onnx', 'openvino',
                             amp='bf16')['type'] == 'OpenVINOSegmentor'
    with pytest.raises(UserError, match="backend 'tensorrt' is not "
                       r"supported: use one of \['onnxruntime', "
                       r"'openvino'\]"):
        backend_model_cfg(MODEL_CFG, 'm.onnx', 'tensorrt')


def test_backend_of_files_and_segmentors(onnx_file, plain_model):
    assert backend_of('iter_400.pth') == backend_of(None) == 'pytorch'
    assert backend_of('iter_400.pth', 'openvino') == 'pytorch'
    assert backend_of('m.onnx') == DEFAULT_BACKEND
    assert backend_of('m.onnx', 'openvino') == 'openvino'
    assert backend_of('m_int8.xml') == 'openvino'
    assert backend_of(plain_model) == 'pytorch'
    init_default_scope('emanet')
    for backend in BACKENDS:
        model = MODELS.build(backend_model_cfg(MODEL_CFG, onnx_file,
                                               backend))
        assert backend_of(model) == backend


def test_backend_segmentor_builds_from_a_config_dict(onnx_file):
    init_default_scope('emanet')
    model = MODELS.build(dict(
        type='ONNXRuntimeSegmentor', model_file=onnx_file,
        data_preprocessor=dict(type='SegDataPreProcessor'),
        test_cfg=dict(mode='whole')))
    assert isinstance(model, ONNXRuntimeSegmentor)
    assert isinstance(model, BaseSegmentor)
    # BaseSegmentor's and mmengine's __init__ ran: nothing was skipped
    assert model.test_cfg == dict(mode='whole') and not model.align_corners
    assert model.init_cfg is None and model._is_init is False
    assert type(model.data_preprocessor).__name__ == 'SegDataPreProcessor'
    assert model.out_channels == model.num_classes == 5
    x = torch.zeros(1, 3, 64, 64)
    assert model(x, mode='tensor').shape == (1, 5, 8, 8)
    assert model(x, mode='predict')[0].pred_sem_seg.data.shape == (1, 64,
                                                                    64)


def test_exported_model_cannot_train(onnx_file):
    init_default_scope('emanet')
    model = MODELS.build(backend_model_cfg(MODEL_CFG, onnx_file))
    with pytest.raises(UserError, match='an exported model cannot train'):
        model(torch.zeros(1, 3, 64, 64), [], mode='loss')


def test_logits_come_back_on_the_inputs_device(onnx_file):
    """On a GPU machine the slide windows' buffers are on the GPU: the
    runtime's CPU logits go back where the inputs are."""
    init_default_scope('emanet')
    model = MODELS.build(backend_model_cfg(MODEL_CFG, onnx_file))
    inputs = torch.rand(1, 3, 64, 64)
    on_cpu = model._forward(inputs)
    assert on_cpu.device == inputs.device and on_cpu.shape[:2] == (
        1, model.out_channels)
    on_gpu = model._forward(on_other_device(inputs))
    assert on_gpu.device == torch.device('meta')
    assert on_gpu.shape == on_cpu.shape and on_gpu.dtype == torch.float32


def test_openvino_bf16_falls_back_where_emulated(onnx_file, monkeypatch):
    from emanet.utils import precision
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: False)
    monkeypatch.delenv('EMANET_FORCE_BF16', raising=False)
    init_default_scope('emanet')
    cfg = dict(data_preprocessor=dict(type='SegDataPreProcessor'),
               decode_head={})
    model = MODELS.build(backend_model_cfg(cfg, onnx_file, 'openvino',
                                           amp='bf16'))
    assert isinstance(model, OpenVINOSegmentor) and model.amp_dtype is None
    assert model.compiled.get_property('INFERENCE_PRECISION_HINT') \
        .to_string() == 'f32'


@pytest.mark.parametrize('content', [b'\x00\x01garbage' * 10,
                                     b'{"not": "onnx"}'])
def test_corrupt_file_is_one_line_naming_it(tmp_path, content):
    path = tmp_path / 'broken.onnx'
    path.write_bytes(content)
    init_default_scope('emanet')
    with pytest.raises(UserError) as err:
        MODELS.build(backend_model_cfg(MODEL_CFG, str(path),
                                       'onnxruntime'))
    message = str(err.value)
    assert '\n' not in message and str(path) in message
    assert 'pytorch2onnx.py' in message
    with pytest.raises(UserError, match='not found: .*missing.onnx'):
        MODELS.build(backend_model_cfg(
            MODEL_CFG, str(tmp_path / 'missing.onnx'), 'openvino'))


def test_openvino_runs_another_compiled_network_in_the_block(onnx_file,
                                                            tmp_path):
    init_default_scope('emanet')
    model = MODELS.build(backend_model_cfg(MODEL_CFG, onnx_file,
                                           'openvino'))
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    own = model._forward(x)
    # another network of the same inputs and outputs: negated logits
    other = build_plain_model()
    with torch.no_grad():
        other.decode_head.conv_seg.weight.neg_()
        other.decode_head.conv_seg.bias.neg_()
    other_file = str(tmp_path / 'other.onnx')
    export_onnx(other, other_file, (64, 64), dynamic=True)
    compiled = MODELS.build(backend_model_cfg(MODEL_CFG, other_file,
                                              'openvino')).compiled
    with model.use_compiled(compiled):
        got = model._forward(x)  # [1, 5, 8, 8]
    with torch.no_grad():
        expected = other(x, mode='tensor')
    assert (got - expected).abs().max() <= 1e-4 * expected.abs().max()
    assert (got + own).abs().max() <= 1e-4 * own.abs().max()
    torch.testing.assert_close(model._forward(x), own)  # its own again
    # free both OpenVINO networks now: left to a later garbage collection,
    # two of them ended the process with SIGSEGV during the signal tests
    # of tests/engine/hooks/test_interrupt_hook.py
    del compiled, model
    gc.collect()

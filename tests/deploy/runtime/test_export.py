"""ONNX export and the ONNX Runtime / OpenVINO segmentors.

Logit tolerance: the runtimes compute the same float32 network with other
summation orders and fused kernels, so each logit moves by a few float32
ulps of the activations it sums; 1e-4 relative to the largest logit is
two orders of magnitude above that and far below the gaps that decide a
pixel's class on all but near-tied pixels (hence >= 99.9% equal pixels,
not 100%).
"""
import copy
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from emanet.deploy.runtime.backends import BACKENDS, backend_model_cfg
from emanet.deploy.runtime.export import META_KEY, export_onnx, require
from emanet.deploy.runtime.model_files import exported_input_shape
from emanet.registry import MODELS
from emanet.utils.benchmarking import compare
from emanet.utils.errors import UserError

from helpers.tiny_demo import DEMO_CONFIG

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics
META = dict(classes=['a', 'b', 'c', 'd', 'e'],
            palette=[[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4]])


def tolerance(reference: torch.Tensor) -> float:
    return 1e-4 * reference.abs().max().item()


@pytest.fixture(scope='module')
def tiny_onnx(tmp_path_factory):
    """The tiny test model (random BN statistics), exported dynamic."""
    from helpers.tiny_emanet import build_plain_model
    model = build_plain_model()
    path = str(tmp_path_factory.mktemp('onnx') / 'tiny.onnx')
    export_onnx(model, path, (64, 64), dynamic=True, dataset_meta=META)
    return model, path


def build_backend(model, path, backend, **kwargs):
    init_default_scope('emanet')
    cfg = dict(data_preprocessor=dict(type='SegDataPreProcessor'),
               decode_head=dict(align_corners=False), test_cfg=kwargs)
    return MODELS.build(backend_model_cfg(cfg, path, backend))


@pytest.mark.parametrize('backend', sorted(BACKENDS))
def test_backend_logits_and_predictions_equal_pytorch(tiny_onnx, backend):
    model, path = tiny_onnx
    exported = build_backend(model, path, backend)
    assert exported.dataset_meta == META and not model.training
    gen = torch.Generator().manual_seed(0)
    for shape in [(1, 3, 64, 64), (2, 3, 96, 128)]:  # dynamic batch, size
        x = torch.randn(*shape, generator=gen)
        with torch.no_grad():
            ref = model(x, mode='tensor')  # [B, 5, H/8, W/8]
            ref_pred = model.predict(x)
        out = exported._forward(x)
        assert out.shape == ref.shape
        assert (out - ref).abs().max().item() <= tolerance(ref)
        assert compare(ref_pred, exported.predict(x))[1] >= 0.999


@pytest.mark.parametrize('backend', sorted(BACKENDS))
def test_backend_slide_inference_shares_the_windows(tiny_onnx, backend):
    model, path = tiny_onnx
    slide = dict(mode='slide', crop_size=(48, 48), stride=(32, 32),
                 slide_batch_size=2)
    exported = build_backend(model, path, backend, **slide)
    reference = copy.deepcopy(model)
    reference.test_cfg = slide
    x = torch.randn(1, 3, 80, 112, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = reference.predict(x)
    max_diff, agreement = compare(ref, exported.predict(x))
    assert max_diff <= tolerance(ref[0].seg_logits.data)
    assert agreement >= 0.999


def test_static_export_refuses_other_shapes(tmp_path):
    from helpers.tiny_emanet import build_plain_model
    model = build_plain_model()
    path = str(tmp_path / 'static.onnx')
    export_onnx(model, path, (64, 64))
    assert exported_input_shape(path) == (1, 3, 64, 64)
    exported = build_backend(model, path, 'onnxruntime')
    with pytest.raises(UserError, match='static.onnx takes 1x3x64x64 '
                       'inputs, got 1x3x64x96: export it with '
                       '--dynamic-export'):
        exported.predict(torch.zeros(1, 3, 64, 96))
    proto = __import__('onnx').load(path)
    assert META_KEY not in {p.key for p in proto.metadata_props}


def test_missing_runtime_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)
    with pytest.raises(UserError) as err:
        require('onnxruntime')
    assert str(err.value).startswith('onnxruntime is not installed')
    assert 'pip install -e ".[deploy]"' in str(err.value)
    assert '\n' not in str(err.value)


def test_import_emanet_stays_light():
    import subprocess
    code = ('import sys, emanet, emanet.deploy, '
            'emanet.deploy.runtime.backends; '
            'print(sorted(m for m in ("onnx", "onnxruntime", "openvino") '
            'if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == '[]'


@pytest.mark.slow
@pytest.mark.parametrize('backend', sorted(BACKENDS))
def test_demo_r18_export_matches_pytorch(backend, tmp_path):
    from emanet.apis import init_model

    from helpers.tiny_emanet import randomise_bn
    cfg = Config.fromfile(DEMO_CONFIG)
    model = init_model(cfg, None, device='cpu')
    randomise_bn(model)
    path = str(tmp_path / 'demo.onnx')
    export_onnx(model, path, (256, 512), dynamic=True)
    exported = MODELS.build(backend_model_cfg(cfg.model, path, backend))
    x = torch.randn(1, 3, 256, 512, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model(x, mode='tensor')
        ref_pred = model.predict(x)
    assert (exported._forward(x) - ref).abs().max().item() <= tolerance(ref)
    assert compare(ref_pred, exported.predict(x))[1] >= 0.999

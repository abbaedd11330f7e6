"""init_model / inference_model / show_result on demo images."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn

from emanet.apis import inference_model, init_model, show_result
from emanet.structures import SegDataSample
from emanet.utils.errors import CheckpointError

from helpers.tiny_demo import DEMO_CONFIG
from helpers.tool_loader import REPO

# A narrow ResNetV1c-18 and a half-size test resize keep this fast.
TINY = {
    'model.backbone.stem_channels': 8,
    'model.backbone.base_channels': 8,
    'model.decode_head.in_channels': 64,
    'model.decode_head.channels': 8,
    'model.decode_head.ema_channels': 8,
    'model.decode_head.num_bases': 4,
    'model.auxiliary_head.in_channels': 32,
    'model.auxiliary_head.channels': 8,
    'test_dataloader.dataset.pipeline.1.scale': (128, 64),
}


@pytest.fixture(scope='module')
def model():
    return init_model(DEMO_CONFIG, device='cpu', cfg_options=dict(TINY))


@pytest.fixture(scope='module')
def images(demo_data_root):
    return sorted(glob.glob(osp.join(demo_data_root, 'leftImg8bit', 'val',
                                     '*', '*.png')))


def _check(result, shape=(256, 512)):
    assert isinstance(result, SegDataSample)
    assert result.pred_sem_seg.data.shape == (1, *shape)
    assert result.seg_logits.data.shape == (19, *shape)
    assert 0 <= int(result.pred_sem_seg.data.min())
    assert int(result.pred_sem_seg.data.max()) < 19
    assert torch.equal(result.pred_sem_seg.data[0],
                       result.seg_logits.data.argmax(dim=0))


def test_init_model_meta_and_mode(model):
    assert not model.training
    assert next(model.parameters()).device.type == 'cpu'
    assert len(model.dataset_meta['classes']) == 19
    assert len(model.dataset_meta['palette']) == 19
    assert model.cfg.model.pretrained is None


def test_inference_on_path_array_and_list(model, images):
    from_path = inference_model(model, images[0])
    _check(from_path)
    assert from_path.img_path == images[0]
    array = cv2.imread(images[0])
    from_array = inference_model(model, array)
    _check(from_array)
    torch.testing.assert_close(from_array.seg_logits.data,
                               from_path.seg_logits.data)
    small = cv2.resize(array, (200, 100))
    batch = inference_model(model, [images[1], small])
    assert isinstance(batch, list) and len(batch) == 2
    _check(batch[0])
    _check(batch[1], shape=(100, 200))


def test_bad_input_is_named(model, tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.png'):
        inference_model(model, str(tmp_path / 'nope.png'))
    with pytest.raises(TypeError, match='path or a numpy array'):
        inference_model(model, 3)


def test_show_result_writes_overlay(model, images, tmp_path):
    result = inference_model(model, images[0])
    out_file = str(tmp_path / 'overlay.png')
    drawn = show_result(model, images[0], result, out_file=out_file,
                        opacity=1.0)
    assert drawn.shape == (256, 512, 3)
    written = cv2.imread(out_file)
    assert written.shape == (256, 512, 3)
    # opacity 1: every pixel is its predicted class colour
    palette = np.array(model.dataset_meta['palette'], dtype=np.uint8)
    pred = result.pred_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(written[..., ::-1], palette[pred])


def test_checkpoint_meta_and_weights_are_loaded(model, tmp_path):
    classes = tuple(f'c{i}' for i in range(19))
    palette = [[i, i, i] for i in range(19)]
    state = {k: v + 1 if v.is_floating_point() else v
             for k, v in model.state_dict().items()}
    ckpt = str(tmp_path / 'ckpt.pth')
    torch.save(dict(state_dict=state,
                    meta=dict(dataset_meta=dict(classes=classes,
                                                palette=palette))), ckpt)
    loaded = init_model(DEMO_CONFIG, ckpt, device='cpu',
                        cfg_options=dict(TINY))
    assert loaded.dataset_meta['classes'] == classes
    for key, value in loaded.state_dict().items():
        torch.testing.assert_close(value, state[key])


def test_sync_bn_configs_are_reverted():
    r50 = osp.join(REPO, 'configs/emanet/'
                   'emanet_r50-d8_4xb2-80k_cityscapes-512x1024.py')
    model = init_model(r50, device='cpu', cfg_options={
        'model.backbone.depth': 18,
        'model.backbone.base_channels': 8,
        'model.backbone.stem_channels': 8,
        'model.decode_head.in_channels': 64,
        'model.decode_head.channels': 8,
        'model.decode_head.ema_channels': 8,
        'model.auxiliary_head.in_channels': 32,
        'model.auxiliary_head.channels': 8,
    })
    kinds = {type(m) for m in model.modules()}
    assert nn.SyncBatchNorm not in kinds
    assert any(issubclass(k, nn.modules.batchnorm._BatchNorm)
               for k in kinds)


def test_init_model_refuses_partial_weights_unless_not_strict(model,
                                                              tmp_path):
    state = {k: v + 1 for k, v in model.state_dict().items()
             if k.startswith('backbone.')}
    ckpt = str(tmp_path / 'backbone.pth')
    torch.save(dict(state_dict=state), ckpt)
    with pytest.raises(CheckpointError) as err:
        init_model(DEMO_CONFIG, ckpt, device='cpu', cfg_options=dict(TINY))
    msg = str(err.value)
    assert msg.startswith(f'Checkpoint {ckpt} does not fit the model')
    assert "missing from the checkpoint (decode_head: " in msg
    assert msg.endswith('pass strict=False to init_model '
                        '(demo/image_demo.py: --allow-partial-weights).')
    loaded = init_model(DEMO_CONFIG, ckpt, device='cpu',
                        cfg_options=dict(TINY), strict=False)
    for key, value in state.items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_init_model_refuses_overrides_without_effect(tmp_path):
    from emanet.utils.errors import ConfigError
    with pytest.raises(ConfigError, match="nothing reads 'test_pipeline'.*"
                       'test_dataloader.dataset.pipeline.1.scale'):
        init_model(DEMO_CONFIG, cfg_options={'test_pipeline.1.scale': (8, 8)})
    bad = tmp_path / 'bad.py'
    bad.write_text('model = dict(\n')
    with pytest.raises(ConfigError, match=f'{bad}, line 1: syntax error'):
        init_model(str(bad))

"""What GET /meta says about the model."""
import pytest
import torch
from mmengine.config import Config

from emanet.serving.model_info import describe, input_of, precision_of


def test_precision_names_int8_runtime_amp_and_weights():
    assert precision_of(torch.nn.Conv2d(1, 1, 1)) == 'float32'
    assert precision_of(torch.nn.Conv2d(1, 1, 1).bfloat16()) == 'bfloat16'
    int8 = torch.nn.Module()
    int8.int8 = True
    assert precision_of(int8) == 'int8'
    amp = torch.nn.Module()
    amp.amp_dtype = torch.bfloat16
    assert precision_of(amp) == 'bfloat16'


def test_input_gives_resize_and_slide_windows():
    cfg = Config(dict(
        model=dict(test_cfg=dict(mode='slide', crop_size=(64, 64),
                                 stride=(48, 48))),
        test_dataloader=dict(dataset=dict(pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(2048, 1024), keep_ratio=True)]))))
    assert input_of(cfg) == dict(mode='slide', crop_size=[64, 64],
                                 stride=[48, 48], scale=[2048, 1024],
                                 keep_ratio=True)
    cfg = Config(dict(model=dict(), test_pipeline=[]))
    assert input_of(cfg) == dict(mode='whole')


@pytest.mark.serving
def test_describe_the_tiny_model(models):
    from emanet.apis import init_model
    model = init_model(models.config, models.onnx)
    info = describe(model, models.config, models.onnx)
    assert info['backend'] == 'onnxruntime'
    assert info['model_file'] == models.onnx
    assert info['classes'] == list(model.dataset_meta['classes'])
    assert info['palette'][0] == [128, 64, 128]
    assert info['input'] == dict(mode='whole', scale=[128, 64],
                                 keep_ratio=True)

"""Exported model files: known by suffix, read with what the tools need."""
import pytest

from emanet.deploy.runtime.export import export_onnx
from emanet.deploy.runtime.model_files import (
    EXPORTED_SUFFIXES,
    exported_input_shape,
    is_exported_model,
    is_openvino_ir,
    read_exported,
)
from emanet.utils.errors import UserError

from helpers.tiny_emanet import build_plain_model

META = dict(classes=['a', 'b', 'c', 'd', 'e'], palette=[[0, 0, 0]] * 5)


def test_exported_models_are_known_by_suffix():
    assert EXPORTED_SUFFIXES == ('.onnx', '.xml')
    assert is_exported_model('work/model.onnx')
    assert is_exported_model('work/model_int8.xml')
    assert is_exported_model('MODEL.ONNX')
    assert not is_exported_model('iter_400.pth')
    assert not is_exported_model(None) and not is_exported_model('')
    assert is_openvino_ir('m_int8.XML') and not is_openvino_ir('m.onnx')
    assert not is_openvino_ir(None)


def test_read_gives_the_stored_classes_and_input_dims(tmp_path):
    pytest.importorskip('onnx')
    model = build_plain_model()
    dynamic, static = str(tmp_path / 'd.onnx'), str(tmp_path / 's.onnx')
    export_onnx(model, dynamic, (64, 64), dynamic=True, dataset_meta=META)
    export_onnx(model, static, (32, 64))
    assert read_exported(dynamic) == (META, (None, 3, None, None),
                                      'logits')
    assert read_exported(static) == (None, (1, 3, 32, 64), 'logits')
    assert exported_input_shape(static) == (1, 3, 32, 64)


def test_missing_files_are_named(tmp_path):
    pytest.importorskip('onnx')
    pytest.importorskip('openvino')
    with pytest.raises(UserError, match='ONNX model file not found: .*'
                       'none.onnx'):
        read_exported(str(tmp_path / 'none.onnx'))
    with pytest.raises(UserError, match='OpenVINO model file not found'):
        read_exported(str(tmp_path / 'none.xml'))

"""--backend applies to exported models only."""
import pytest

from emanet.deploy.runtime.backend_option import check_backend_option
from emanet.utils.errors import UserError


@pytest.mark.parametrize('model_file', ['m.onnx', 'm_int8.xml', None,
                                        'iter_400.pth'])
def test_no_backend_is_always_fine(model_file):
    check_backend_option(model_file, None)


def test_backend_of_an_exported_model_is_fine():
    check_backend_option('work/m.onnx', 'openvino')
    check_backend_option('work/m_int8.xml', 'openvino')


@pytest.mark.parametrize('model_file,what', [
    ('iter_400.pth', 'the checkpoint iter_400.pth'),
    (None, r'random weights \(no model file\)')])
def test_backend_with_pytorch_weights_is_refused(model_file, what):
    with pytest.raises(UserError, match=rf'--backend openvino applies to an '
                       rf'exported model \(.onnx, .xml\), not to {what}, '
                       'which runs in PyTorch') as err:
        check_backend_option(model_file, 'openvino')
    assert '\n' not in str(err.value)

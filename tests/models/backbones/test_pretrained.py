"""Which backbone a pretrained name holds; the error when it cannot load."""
import pytest

from emanet.models.backbones.pretrained import (
    PUBLISHED,
    pretrained_error,
    weights_named,
)


@pytest.mark.parametrize('name,held', [
    ('open-mmlab://resnet50_v1c', ('ResNetV1c', 50)),
    ('mmcls://resnet152_v1d', ('ResNetV1d', 152)),
    ('mmcls://resnet34', ('ResNet', 34)),
    ('torchvision://resnet101', ('ResNet', 101)),
    ('open-mmlab://resnext101_32x4d', None),
    ('/weights/resnet50_v1c.pth', None),
    (None, None),
])
def test_names_say_type_and_depth(name, held):
    assert weights_named(name) == held


def test_every_published_name_is_known_to_mmengine():
    from mmengine.runner import checkpoint
    tables = {'open-mmlab': checkpoint.get_external_models(),
              'mmcls': checkpoint.get_mmcls_models()}
    for (kind, depth), name in PUBLISHED.items():
        scheme, _, key = name.partition('://')
        assert key in tables[scheme], name
        assert weights_named(name) == (kind, depth)


def test_error_names_the_url_of_an_mmcls_name():
    err = pretrained_error('mmcls://resnet50_v1d', OSError('no route'))
    assert str(err).startswith(
        'pretrained backbone weights mmcls://resnet50_v1d (https://')
    assert 'model.pretrained=/path/to/resnetv1d50_' in str(err)

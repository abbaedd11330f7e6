"""Which registry builds an entry, matched by the registries' names."""
import pytest

from emanet import registry as em_registry
from emanet.config.registries import (
    registered_names,
    registry_for,
    registry_named,
)


@pytest.mark.parametrize('key, name', [
    ('model', 'model'), ('tta_model', 'model'),
    ('data_preprocessor', 'model'), ('train_pipeline', 'transform'),
    ('tta_pipeline', 'transform'), ('val_evaluator', 'metric'),
    ('optim_wrapper', 'optim_wrapper'),
    ('param_scheduler', 'parameter scheduler'),
    ('default_hooks', 'hook'), ('custom_hooks', 'hook'),
    ('visualizer', 'visualizer'), ('vis_backends', 'vis_backend'),
    ('train_cfg', 'loop'), ('test_cfg', 'loop'),
    ('log_processor', 'log_processor'),
    ('model_wrapper_cfg', 'model_wrapper'),
])
def test_top_level_keys(key, name):
    assert registry_for(key, {}, top=True).name == name


@pytest.mark.parametrize('key, name', [
    ('dataset', 'dataset'), ('datasets', 'dataset'),
    ('sampler', 'data sampler'), ('batch_sampler', 'data sampler'),
    ('pipeline', 'transform'), ('transforms', 'transform'),
    ('optimizer', 'optimizer'), ('init_cfg', 'weight initializer'),
    ('collate_fn', 'function'), ('data_preprocessor', 'model'),
])
def test_nested_keys(key, name):
    assert registry_for(key, {}, top=False).name == name


def test_keys_that_name_no_registry():
    for key in ('norm_cfg', 'decode_head', 'loss_decode', 'env_cfg',
                'train_dataloader', 'randomness', 'default_scope'):
        assert registry_for(key, {}, top=True) is None, key
    # Only the Runner builds loops from ``<stage>_cfg``.
    assert registry_for('test_cfg', {}, top=False) is None


def test_evaluator_with_metrics_is_an_evaluator():
    node = dict(type='Evaluator', metrics=[dict(type='IoUMetric')])
    assert registry_for('val_evaluator', node, top=True).name == 'evaluator'
    assert registry_for('metrics', node['metrics'], top=False).name == \
        'metric'


def test_emanet_children_first():
    assert registry_named('model') is em_registry.MODELS
    assert registry_named('hook') is em_registry.HOOKS
    assert 'EMAHead' in registered_names(em_registry.MODELS)
    assert 'Conv2d' in registered_names(em_registry.MODELS)  # a parent's

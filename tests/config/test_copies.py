"""Where a config-file variable's value went."""
from mmengine.config import Config

from emanet.config.copies import copies_of, runner_keys, variable_copies


def test_copies_are_found_below_other_entries():
    node = dict(a=[dict(size=(1, 2)), dict(size=(1, 3))], b=(1, 2))
    assert copies_of((1, 2), node, 'x') == ['x.a.0.size', 'x.b']
    assert copies_of(True, dict(a=1), 'x') == []  # True is not 1


def test_variables_and_entries_read_directly():
    cfg = Config(dict(crop_size=(1, 2), log_level='INFO',
                      model=dict(size=(1, 2)), env=dict(level='INFO')))
    read = runner_keys(cfg)
    assert {'model', 'train_dataloader', 'log_level'} <= read
    assert variable_copies(cfg, 'crop_size', read) == ['model.size']
    assert variable_copies(cfg, 'log_level', read) is None
    assert variable_copies(cfg, 'model', read) is None

"""--cfg-options values: mmengine's forms read as mmengine reads them,
dicts as dicts, the rest refused in one line naming the key."""
import argparse

import pytest
from mmengine.config import DictAction

from emanet.config import CfgOptionsAction
from emanet.config.option_values import parse_option_value
from emanet.utils.errors import ConfigError

HOOK = [{'type': 'EarlyStoppingHook', 'monitor': 'mIoU'}]


@pytest.mark.parametrize('text', [
    '0.02', '800', '-1', '1e-4', 'inf', 'True', 'true', 'None', 'none',
    'SGD', 'a.b', 'data/cityscapes/', '', '1,2', '[1,2]', '[a, b]',
    '(64,128)', '"(64,128)"', "'a,b'", '[(1,2),(3,4)]', '[-1,2]', '[a-b]',
    '()', '[]', 'x=y', 'a,b/c', '[a/b,c]', '(x/1,[y/2,3])', 'x,', '(a/b)',
])
def test_mmengines_forms_give_mmengines_values(text):
    ours = parse_option_value('k', text)
    theirs = DictAction._parse_iterable(text)
    assert ours == theirs and type(ours) is type(theirs)


@pytest.mark.parametrize('text, value', [
    ("[dict(type='EarlyStoppingHook',monitor='mIoU')]", HOOK),
    ('[dict(type="EarlyStoppingHook", monitor="mIoU")]', HOOK),
    ("[{'type':'EarlyStoppingHook','monitor':'mIoU'}]", HOOK),
    ('[dict(type=EarlyStoppingHook,monitor=mIoU)]', HOOK),  # bare words
    ("dict(size=(64, 128), pad_val=0)", {'size': (64, 128), 'pad_val': 0}),
    ("{'a': [dict(b=(1, -2.5), c=None)]}",
     {'a': [{'b': (1, -2.5), 'c': None}]}),
    ("['a,b', 'c d']", ['a,b', 'c d']),  # quoted strings stay whole
    ('(1,2),(3,4)', [(1, 2), (3, 4)]),  # mmengine: RecursionError
])
def test_dicts_and_quoted_strings_are_python_literals(text, value):
    assert parse_option_value('k', text) == value


@pytest.mark.parametrize('text', [
    "[{'type':'EarlyStoppingHook'", '[dict(**other)]', '{1, 2}',
    'dict(1)', "[open('x')]", '[1,[2]', '[1,(2]',
])
def test_unreadable_values_are_refused_naming_the_key(text):
    with pytest.raises(ConfigError) as err:
        parse_option_value('custom_hooks', text)
    message = str(err.value)
    assert message.startswith(f'--cfg-options custom_hooks={text}: ')
    assert '\n' not in message


def test_action_merges_items_and_names_the_key():
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    args = parser.parse_args([
        '--cfg-options', 'train_cfg.max_iters=8',
        "custom_hooks=[dict(type='EarlyStoppingHook',monitor='mIoU')]"])
    assert args.cfg_options == {'train_cfg.max_iters': 8,
                                'custom_hooks': HOOK}
    with pytest.raises(ConfigError, match=r'^--cfg-options custom_hooks='):
        parser.parse_args(['--cfg-options', 'custom_hooks=[{'])

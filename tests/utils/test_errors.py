"""The user error hierarchy and how the tools print a user error."""
import sys

import pytest

from emanet.utils.errors import (
    BadDataError,
    CheckpointError,
    ConfigError,
    ConfigTypeError,
    DataRootError,
    MissingDataError,
    TrainingDivergedError,
    UnsafeCheckpointError,
    UserError,
    WorkDirError,
    run_tool,
    user_message,
)


def _fail(argv):
    raise ConfigError('cfg.py: model: the message')


def test_user_error_is_one_last_line(capsys, monkeypatch):
    monkeypatch.delenv('EMANET_DEBUG', raising=False)
    assert run_tool(_fail, []) == 1
    captured = capsys.readouterr()
    assert captured.err == 'error: cfg.py: model: the message\n'
    assert 'Traceback' not in captured.out + captured.err
    with pytest.raises(ConfigError):
        run_tool(_fail, ['--debug'])
    monkeypatch.setenv('EMANET_DEBUG', '1')
    with pytest.raises(ConfigError):
        run_tool(_fail, [])


def test_bugs_keep_their_traceback_and_status_passes_through():
    def bug(argv):
        raise ZeroDivisionError('a bug')
    with pytest.raises(ZeroDivisionError):
        run_tool(bug, [])
    assert run_tool(lambda argv: 3, []) == 3
    assert run_tool(lambda argv: {'mIoU': 1.0}, []) == 0


def test_data_loader_worker_traceback_is_dropped(capsys):
    # What torch raises in the main process for an error in a worker.
    wrapped = BadDataError(
        'Caught BadDataError in DataLoader worker process 0.\n'
        'Original Traceback (most recent call last):\n'
        '  File "x.py", line 1, in f\n'
        'emanet.utils.errors.BadDataError: Label map a.png has values '
        '[300]')

    def main(argv):
        raise wrapped
    assert run_tool(main, []) == 1
    assert capsys.readouterr().err == (
        'error: Label map a.png has values [300]\n')


def test_argv_defaults_to_the_command_line(monkeypatch):
    monkeypatch.delenv('EMANET_DEBUG', raising=False)
    monkeypatch.setattr(sys, 'argv', ['tool.py', 'a', '--debug'])
    seen = []
    assert run_tool(lambda argv: seen.append(argv)) == 0
    assert seen == [['a', '--debug']]
    with pytest.raises(ConfigError):  # --debug read from sys.argv too
        run_tool(_fail)


def test_emanet_debug_zero_or_empty_keeps_one_line(capsys, monkeypatch):
    for value in ('0', ''):
        monkeypatch.setenv('EMANET_DEBUG', value)
        assert run_tool(_fail, []) == 1
        assert capsys.readouterr().err == \
            'error: cfg.py: model: the message\n'


def test_user_message_strips_and_keeps_unmatched_text():
    assert user_message(ConfigError('  a message \n')) == 'a message'
    # A worker traceback without the error's own name: kept whole, on one
    # line.
    text = 'Original Traceback (most recent call last):\n  x\nValueError: v'
    assert user_message(BadDataError(text)) == (
        'Original Traceback (most recent call last): x; ValueError: v')


@pytest.mark.parametrize('cls,builtin', [
    (ConfigError, ValueError),
    (ConfigTypeError, TypeError),
    (BadDataError, ValueError),
    (MissingDataError, FileNotFoundError),
    (DataRootError, FileExistsError),
    (CheckpointError, RuntimeError),
    (UnsafeCheckpointError, CheckpointError),
    (WorkDirError, OSError),
    (TrainingDivergedError, FloatingPointError),
])
def test_user_errors_are_also_the_builtin_error_they_refine(cls, builtin):
    # run_tool prints them as one line; callers catching the builtin
    # error (mmengine, torch's DataLoader) still catch them.
    assert issubclass(cls, UserError) and issubclass(cls, builtin)


def test_divergence_advice_names_the_last_checkpoint_or_none():
    advice = TrainingDivergedError.advice('wd/iter_4.pth')
    assert advice.startswith(
        'The last finite checkpoint is wd/iter_4.pth: lower the learning '
        'rate (optim_wrapper.optimizer.lr) and start from it with '
        '--load-from wd/iter_4.pth; --resume wd/iter_4.pth also restores')
    assert '\n' not in advice
    for last in (None, ''):
        assert TrainingDivergedError.advice(last) == (
            'No checkpoint had been written: lower the learning rate '
            '(optim_wrapper.optimizer.lr) and train again.')


def test_a_message_with_line_breaks_is_printed_as_one_line(capsys,
                                                           tmp_path):
    import cv2
    import numpy as np
    try:  # OpenCV's messages end in a newline
        cv2.imwrite(str(tmp_path / 'out.unknown'), np.zeros((2, 2), np.uint8))
    except cv2.error as e:
        opencv = str(e)
    assert opencv.endswith('\n')

    def main(argv):
        raise BadDataError(f'cannot write out.unknown ({opencv}); name a '
                           '.png file')
    assert run_tool(main, []) == 1
    err = capsys.readouterr().err
    assert err == f'error: cannot write out.unknown ({opencv.strip()}); ' \
        'name a .png file\n'


@pytest.mark.parametrize('message,line', [
    # one line per config problem: joined after the sentence's end
    ("a.py: model: type='X'; did you mean 'Y'?\na.py: optim_wrapper: bad",
     "a.py: model: type='X'; did you mean 'Y'? a.py: optim_wrapper: bad"),
    ('first\n\n  second\n', 'first; second'),
    ('one line\n', 'one line'),
])
def test_user_message_joins_lines(message, line):
    assert user_message(ConfigError(message)) == line

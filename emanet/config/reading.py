"""Read a config file, naming the file and line of what goes wrong."""
import ast
import logging
import os.path as osp
import traceback
from typing import Optional, Set

from mmengine.config import Config
from mmengine.logging import print_log

from emanet.utils.errors import ConfigError

from .checking import check_config
from .leaf_variables import base_files, leaf_variable_errors
from .model_check import pretrained_warnings
from .overrides import merge_cfg_options


def _find_syntax_error(path: str, seen: Set[str]) -> Optional[SyntaxError]:
    """The syntax error of ``path`` or of one of its ``_base_`` files."""
    path = osp.abspath(path)
    if path in seen or not osp.isfile(path):
        return None
    seen.add(path)
    with open(path, encoding='utf-8') as f:
        source = f.read()
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as e:
        return e
    for base in base_files(tree):
        found = _find_syntax_error(osp.join(osp.dirname(path), base), seen)
        if found is not None:
            return found
    return None


def read_config(path: str) -> Config:
    """``Config.fromfile`` whose errors name the file and the line.

    mmengine parses a config without its file name, so a syntax error
    reads ``File "<unknown>", line 2``; other errors come with a long
    traceback through mmengine's parser.

    Raises:
        ConfigError: the file (or one of its ``_base_`` files) is missing,
            is not valid Python or fails when it runs.
    """
    if not osp.isfile(path):
        raise ConfigError(f'config file {path} does not exist')
    try:
        return Config.fromfile(path)
    except SyntaxError as e:
        found = _find_syntax_error(path, set()) or e
        where = (f'{found.filename}, line {found.lineno}'
                 if found is not e else path)
        text = f': {found.text.strip()}' if found.text else ''
        raise ConfigError(f'{where}: syntax error ({found.msg}){text}; fix '
                          'the config file') from e
    except Exception as e:
        # A config file runs as a module: its frame names file and line.
        frames = [f for f in traceback.extract_tb(e.__traceback__)
                  if f.name == '<module>']
        where = (f'{frames[-1].filename}, line {frames[-1].lineno}'
                 if frames else path)
        raise ConfigError(f'{where}: {type(e).__name__}: {e} (while reading '
                          f'config {path})') from e


def load_config(path: str,
                cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None) -> Config:
    """Read a config, apply ``--cfg-options`` and settle the work dir.

    The work dir is ``work_dir`` if given, else the config's ``work_dir``,
    else ``work_dirs/<config name>``.

    Args:
        path (str): The config file.
        cfg_options (dict, optional): Overrides, as ``--cfg-options``
            gives them.
        work_dir (str, optional): The ``--work-dir`` of the tools.

    Returns:
        Config: The checked config.

    Raises:
        ConfigError: the file cannot be read (naming file and line), an
            override would have no effect, a key or value is wrong
            (:func:`~emanet.config.checking.check_config`), or a variable
            of the file does not reach the entries its base copied it into
            (:mod:`~emanet.config.leaf_variables`).
    """
    cfg = read_config(path)
    # The file as written, the entries the options set counted as set.
    errors = leaf_variable_errors(cfg, cfg_options or ())
    merge_cfg_options(cfg, cfg_options)
    check_config(cfg)  # before anything is created (work dir, logs)
    if errors:
        raise ConfigError('\n'.join(errors))
    for line in pretrained_warnings(cfg):
        print_log(line, logger='current', level=logging.WARNING)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        name = osp.splitext(osp.basename(path))[0]
        cfg.work_dir = osp.join('./work_dirs', name)
    return cfg


def work_dir_source(cfg: Config, config_path: str,
                    cli_work_dir: Optional[str]) -> str:
    """What set ``cfg.work_dir`` (after :func:`load_config`), for messages.

    Returns:
        str: ``'--work-dir'``, ``'work_dir in <config>'`` or the default.
    """
    if cli_work_dir is not None:
        return '--work-dir'
    name = osp.splitext(osp.basename(config_path))[0]
    if cfg.work_dir == osp.join('./work_dirs', name):
        return 'default (work_dirs/<config name>)'
    return f'work_dir in {config_path}'

"""Configuration: read a config file, merge overrides, check it.

* :mod:`.reading`: read a file (errors name file and line), and
  :func:`load_config`, which the tools use: read, merge, check.
* :mod:`.option_values`: a ``--cfg-options`` value as mmengine documents
  it, dicts included; :mod:`.overrides`: ``--cfg-options``, refused where
  they have no effect.
* :mod:`.schedule`: the schedule follows a ``train_cfg.max_iters``
  override.
* :mod:`.checking`: unknown types and keys, wrong values, named before
  anything is built; :mod:`.registries` and :mod:`.signatures` say what
  each entry builds and accepts; :mod:`.model_check`: backbone, heads,
  data set and pretrained weights agree; :mod:`.data_checks`: the data
  loader and pipeline values.
* :mod:`.leaf_variables`: a leaf file's variable that does not reach the
  entries its base copied it into (:mod:`.copies` finds them).
"""
from .checking import check_config
from .overrides import CfgOptionsAction, check_cfg_options, merge_cfg_options
from .reading import load_config, read_config, work_dir_source
from .schedule import follow_max_iters

__all__ = [
    'CfgOptionsAction', 'check_cfg_options', 'check_config',
    'follow_max_iters', 'load_config', 'merge_cfg_options', 'read_config',
    'work_dir_source'
]

"""Models by name: the rows of ``configs/*/metafile.yaml``.

Each row (mmsegmentation's metafile format) names a config and its
weights: a URL, downloaded once into the torch hub cache
(``<torch.hub.get_dir()>/checkpoints/``), or a local path relative to the
current folder. Offline, a missing download is one line with the URL and
how to pass a local file.
"""
import glob
import os
import os.path as osp
import re
import urllib.error
from difflib import get_close_matches
from typing import Dict, List, NamedTuple, Optional

from emanet.utils.errors import MissingCheckpointError, UserError

# the checkout's root (an editable install): configs/ lies beside emanet/
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METAFILES = 'configs/*/metafile.yaml'


class ModelEntry(NamedTuple):
    """A metafile row: its name, config file and weights (URL or path)."""
    name: str
    config: str
    weights: Optional[str]
    aliases: tuple
    row: dict


def model_entries(root: str = REPO_ROOT) -> Dict[str, ModelEntry]:
    """The rows of the metafiles under ``root``, by name and alias
    (lower case), in file order."""
    import yaml
    entries: Dict[str, ModelEntry] = {}
    for path in sorted(glob.glob(osp.join(root, METAFILES))):
        with open(path, encoding='utf-8') as f:
            models = (yaml.safe_load(f) or {}).get('Models') or []
        for row in models:
            weights = row.get('Weights')
            if isinstance(weights, list):
                weights = weights[0] if weights else None
            aliases = row.get('Alias') or []
            aliases = (aliases, ) if isinstance(aliases, str) \
                else tuple(aliases)
            entry = ModelEntry(row['Name'], osp.join(root, row['Config']),
                               weights, aliases, row)
            for name in (entry.name, *aliases):
                entries.setdefault(name.lower(), entry)
    return entries


def list_models(pattern: str = r'.*', root: str = REPO_ROOT) -> List[str]:
    """The model names (not the aliases) matching ``pattern`` (a regular
    expression searched in the name), in metafile order."""
    names: List[str] = []
    for entry in model_entries(root).values():
        if entry.name not in names and re.search(pattern, entry.name):
            names.append(entry.name)
    return names


def find_model(name: str, root: str = REPO_ROOT) -> ModelEntry:
    """The row of a model name or alias (case-insensitive).

    Raises:
        UserError: no such name (the closest names are suggested).
    """
    entries = model_entries(root)
    entry = entries.get(name.lower())
    if entry is None:
        close = get_close_matches(name.lower(), list(entries), n=3)
        hint = f'did you mean {", ".join(close)}? ' if close else ''
        raise UserError(f'{name} is neither a config file nor a model name '
                        f'of {METAFILES}: {hint}python tools/misc/'
                        'list_models.py lists the names')
    return entry


def is_url(path: str) -> bool:
    return bool(re.match(r'^[a-z][a-z0-9+.-]*://', path))


def cached_weights_path(url: str) -> str:
    """Where the torch hub cache keeps the file of ``url``."""
    import torch
    return osp.join(torch.hub.get_dir(), 'checkpoints',
                    osp.basename(url.split('?')[0]))


def fetch_weights(entry: ModelEntry) -> str:
    """The local weights file of a row: its path, or the cached download.

    Raises:
        MissingCheckpointError: a local path that does not exist, or a
            download that failed (one line: the URL and how to pass a
            local file).
    """
    weights = entry.weights
    if not weights:
        raise MissingCheckpointError(
            f'{entry.name} has no weights in {METAFILES}: pass weights=PATH '
            '(demo/image_demo.py: the checkpoint argument)')
    if not is_url(weights):
        if not osp.isfile(weights):
            raise MissingCheckpointError(
                f'the weights of {entry.name}, {weights}, do not exist in '
                f'{os.getcwd()}: train them with python tools/train.py '
                f'{osp.relpath(entry.config, REPO_ROOT)}, or pass '
                'weights=PATH (demo/image_demo.py: the checkpoint argument)')
        return weights
    target = cached_weights_path(weights)
    if osp.isfile(target):
        return target
    return _download(entry, weights, target)


def _download(entry: ModelEntry, url: str, target: str) -> str:
    """Download ``url`` to ``target`` (the hub writes a temporary file and
    renames it when complete), checking the hash prefix in its name."""
    import torch
    found = re.search(r'-([a-f0-9]{8,})\.', osp.basename(target))
    os.makedirs(osp.dirname(target), exist_ok=True)
    try:
        torch.hub.download_url_to_file(
            url, target, hash_prefix=found.group(1) if found else None,
            progress=True)
    except (urllib.error.URLError, OSError, RuntimeError) as err:
        reason = str(getattr(err, 'reason', None) or err)
        reason = (reason.splitlines() or [type(err).__name__])[0]
        raise MissingCheckpointError(
            f'could not download the weights of {entry.name} ({reason}): '
            f'fetch {url} where you are online and pass the file as '
            'weights=PATH (demo/image_demo.py: the checkpoint argument), '
            f'or put it at {target}') from None
    return target

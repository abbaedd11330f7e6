"""Backbone, heads, data set and pretrained weights agree, before the run.

A backbone of another depth left with the heads' old ``in_channels`` fails
with a convolution's ``RuntimeError`` after the environment dump and the
data loading; an ``in_index`` past the backbone's outputs with an
``IndexError``; fewer head outputs than data set classes with an
``IndexError`` in the loss; and weights of another depth or variant load
with warnings only, leaving the rest of the backbone random. Each is found
here from the config alone: a backbone class that declares its output
channels (``out_channels_for``, as :class:`~emanet.models.backbones.ResNet`
does) is asked for them, nothing is built.
"""
import inspect
from typing import Any, List, Optional, Tuple

from mmengine.config import Config

Error = Tuple[str, str]  # (entry, message), as check_config names them


def _model(cfg: Config) -> dict:
    model = cfg.get('model') or {}
    return model.get('module', model)  # a test-time augmentation wrapper


def _registered(node: Any) -> Any:
    from emanet.registry import MODELS
    if not isinstance(node, dict) or not isinstance(node.get('type'), str):
        return None
    return MODELS.get(node['type'])


def _backbone_channels(backbone: dict) -> Tuple[Optional[tuple], List[Error]]:
    """The backbone's declared output channels, or why it cannot build."""
    cls = _registered(backbone)
    declare = getattr(cls, 'out_channels_for', None)
    if declare is None:
        return None, []
    keys = {k: v for k, v in backbone.items() if k not in ('type', '_scope_')}
    try:
        return tuple(declare(**keys)), []
    except (KeyError, ValueError, TypeError) as e:
        return None, [('model.backbone', str(e).strip('"\''))]


def _heads(model: dict) -> List[Tuple[str, dict]]:
    heads = [('model.decode_head', model.get('decode_head'))]
    aux = model.get('auxiliary_head')
    if isinstance(aux, (list, tuple)):
        heads += [(f'model.auxiliary_head[{i}]', h) for i, h in enumerate(aux)]
    else:
        heads.append(('model.auxiliary_head', aux))
    return [(path, head) for path, head in heads if isinstance(head, dict)]


def _head_arg(head: dict, name: str) -> Any:
    """``head[name]``, else the default of the head class's signature."""
    if name in head:
        return head[name]
    cls = _registered(head)
    for klass in getattr(cls, '__mro__', ()):
        init = klass.__dict__.get('__init__')
        param = inspect.signature(init).parameters.get(name) if init else None
        if param is not None and param.default is not param.empty:
            return param.default
    return None


def _channel_errors(model: dict) -> List[Error]:
    """``in_index`` within the backbone's outputs, ``in_channels`` theirs."""
    backbone = model.get('backbone')
    channels, errors = _backbone_channels(backbone)
    if channels is None or model.get('neck') is not None:
        return errors  # a neck changes the channels: not declared here
    wanted = []
    for path, head in _heads(model):
        index, have = _head_arg(head, 'in_index'), head.get('in_channels')
        if not isinstance(index, int) or not isinstance(have, int):
            continue
        if not -len(channels) <= index < len(channels):
            given = backbone.get('out_indices')
            errors.append((path, (
                f'in_index={index}, but model.backbone gives '
                f'{len(channels)} feature maps'
                + (f' (out_indices={tuple(given)})' if given else '')
                + f'; set {path}.in_index to 0..{len(channels) - 1}')))
        elif have != channels[index]:
            wanted.append(f'{path}.in_channels={channels[index]}')
    if wanted:
        depth = backbone.get('depth')
        what = backbone['type'] + (f' depth={depth}' if depth else '')
        errors.append(('model', (
            f'the heads\' in_channels do not match model.backbone ({what} '
            f'gives {channels} channels); set {", ".join(wanted)}')))
    return errors


def _pretrained_errors(model: dict) -> List[Error]:
    """Published weights of the backbone's own type and depth.

    Widths are not compared: a narrowed backbone with a published name
    is a cheap way to run the pretrained path on purpose.
    """
    from emanet.models.backbones.pretrained import PUBLISHED, weights_named
    backbone = model.get('backbone')
    kind = backbone.get('type', '').split('.')[-1] if isinstance(
        backbone, dict) else None
    if kind not in {k for k, _ in PUBLISHED} or _backbone_channels(
            backbone)[0] is None:
        return []  # not a ResNet, or one that cannot be built
    init = backbone.get('init_cfg')
    named = [(path, name, weights_named(name)) for path, name in (
        ('model.pretrained', model.get('pretrained')),
        ('model.backbone.pretrained', backbone.get('pretrained')),
        ('model.backbone.init_cfg.checkpoint',
         init.get('checkpoint') if isinstance(init, dict) else None))]
    found = [entry for entry in named if entry[2] is not None]
    if not found:
        return []
    path, name, held = found[0]
    depth = backbone.get('depth')
    if held == (kind, depth):
        return []
    right = PUBLISHED.get((kind, depth))
    fix = (f"set {path}='{right}' ({kind}-{depth} weights), or None to train "
           'from scratch') if right else (
        f'no weights of {kind}-{depth} are published: set {path}=None to '
        'train from scratch, or a checkpoint of this backbone')
    return [(path, (
        f"'{name}' holds {held[0]}-{held[1]} weights, but model.backbone is "
        f'{kind} depth={depth}: they load with warnings only, leaving '
        f'layers random; {fix}'))]


def _dataset_classes(dataset: Any) -> Optional[int]:
    """How many classes a data set config labels: its metainfo's."""
    from emanet.registry import DATASETS
    if not isinstance(dataset, dict):
        return None
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes is None:
        cls = DATASETS.get(dataset.get('type', ''))
        classes = getattr(cls, 'METAINFO', {}).get('classes')
    return len(classes) if classes is not None else None


def _class_errors(cfg: Config, model: dict) -> List[Error]:
    """A head with fewer outputs than the data set has classes.

    Its loss would index past the logits (an ``IndexError`` deep in
    ``cross_entropy``) on the first label of a higher class. More outputs
    than classes run (as in mmsegmentation), the extra ones unused.
    """
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = (cfg.get(loader) or {}).get('dataset')
        count = _dataset_classes(dataset)
        if count is None:
            continue
        return [(path, (
            f'num_classes={head["num_classes"]}, but the {loader} data set '
            f'({dataset.get("type")}) has {count} classes; set '
            f'num_classes={count}, or give the data set metainfo=dict('
            f'classes=...) with {head["num_classes"]} classes'))
            for path, head in _heads(model)
            if isinstance(head.get('num_classes'), int)
            and head['num_classes'] < count]
    return []


def model_errors(cfg: Config) -> List[Error]:
    """Where backbone, heads, data set and pretrained weights disagree.

    Args:
        cfg (Config): the config, overrides merged.

    Returns:
        list: ``(entry, message)`` per problem, the entry as
        :func:`~emanet.config.checking.check_config` names it; one message
        names every key to change and its value
        (``model.decode_head.in_channels=2048,
        model.auxiliary_head.in_channels=1024``).
    """
    model = _model(cfg)
    if not isinstance(model, dict):
        return []
    return _channel_errors(model) + _class_errors(cfg, model)


def pretrained_warnings(cfg: Config) -> List[str]:
    """Published weights of another backbone type or depth.

    mmengine loads them with warnings only, leaving layers random; the run
    is not refused (mmsegmentation runs it), but said once, up front.

    Returns:
        list: one line per mismatch, naming the key and what to set.
    """
    model = _model(cfg)
    if not isinstance(model, dict):
        return []
    return [f'{path}: {message}'
            for path, message in _pretrained_errors(model)]

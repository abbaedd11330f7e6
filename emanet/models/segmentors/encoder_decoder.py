"""EncoderDecoder: backbone -> decode head (+ auxiliary head)."""
import copy
from typing import List, Optional, Tuple, Union

import torch.nn as nn
from torch import Tensor

from emanet.registry import MODELS

from ..utils import add_prefix
from .base import BaseSegmentor, SampleList


@MODELS.register_module()
class EncoderDecoder(BaseSegmentor):
    """Segmentor made of a backbone, a decode head and auxiliary heads.

    ``forward(inputs, data_samples=None, mode='tensor'|'predict'|'loss')``
    as in :class:`BaseSegmentor`; ``'loss'`` gives the decode head's losses
    under ``decode.`` and auxiliary ones under ``aux.`` or ``aux_{i}.``,
    ``'tensor'`` the decode head's raw logits ``[B, K, H/8, W/8]``.

    Args:
        backbone (dict): backbone config.
        decode_head (dict): decode head config.
        neck (dict, optional): neck config.
        auxiliary_head (dict | list[dict], optional): auxiliary head(s).
        train_cfg (dict, optional): passed to the heads' ``loss``.
        test_cfg (dict, optional): ``mode='whole'`` (default) or
            ``mode='slide'`` with ``crop_size``, ``stride`` and optionally
            ``slide_batch_size`` (windows per network forward, default 1);
            ``seg_logits``: the scores ``predict`` keeps, ``'original'``
            (default), ``'input'`` or ``'none'``
            (:meth:`BaseSegmentor.postprocess_result`).
        data_preprocessor (dict | nn.Module, optional): e.g.
            ``SegDataPreProcessor``.
        pretrained (str, optional): backbone checkpoint, copied into the
            backbone config (``pretrained`` key).
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 neck: Optional[dict] = None,
                 auxiliary_head: Optional[Union[dict, List[dict]]] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         test_cfg=test_cfg, init_cfg=init_cfg)
        if pretrained is not None:
            if backbone.get('pretrained') is not None:
                raise ValueError('pretrained is set both on the model and on '
                                 'its backbone; keep one')
            backbone = copy.deepcopy(backbone)
            backbone['pretrained'] = pretrained
        self.backbone = MODELS.build(backbone)
        if neck is not None:
            self.neck = MODELS.build(neck)
        self.decode_head = MODELS.build(decode_head)
        self.align_corners = self.decode_head.align_corners
        self.num_classes = self.decode_head.num_classes
        self.out_channels = self.decode_head.out_channels
        if isinstance(auxiliary_head, (list, tuple)):
            self.auxiliary_head = nn.ModuleList(
                MODELS.build(cfg) for cfg in auxiliary_head)
        elif auxiliary_head is not None:
            self.auxiliary_head = MODELS.build(auxiliary_head)
        self.train_cfg = train_cfg

    @property
    def with_neck(self) -> bool:
        return getattr(self, 'neck', None) is not None

    @property
    def with_auxiliary_head(self) -> bool:
        return getattr(self, 'auxiliary_head', None) is not None

    @property
    def with_decode_head(self) -> bool:
        return getattr(self, 'decode_head', None) is not None

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """Backbone (and neck) features of ``inputs`` ``[B, 3, H, W]``."""
        x = self.backbone(inputs)
        return self.neck(x) if self.with_neck else x

    def _forward(self, inputs: Tensor,
                 data_samples: Optional[SampleList] = None) -> Tensor:
        """Raw decode-head logits ``[B, K, H/8, W/8]``."""
        return self.decode_head.forward(self.extract_feat(inputs))

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Losses of the decode head (``decode.``) and auxiliary heads."""
        x = self.extract_feat(inputs)
        losses = add_prefix(
            self.decode_head.loss(x, data_samples, self.train_cfg), 'decode')
        if isinstance(getattr(self, 'auxiliary_head', None), nn.ModuleList):
            for i, head in enumerate(self.auxiliary_head):
                losses.update(add_prefix(
                    head.loss(x, data_samples, self.train_cfg), f'aux_{i}'))
        elif self.with_auxiliary_head:
            losses.update(add_prefix(
                self.auxiliary_head.loss(x, data_samples, self.train_cfg),
                'aux'))
        return losses


"""Cityscapes label ids, train ids and names.

A built-in copy of ``cityscapesscripts.helpers.labels`` (checked against it
in the tests) so that converting ``*_gtFine_labelIds.png`` files and writing
submission PNGs need no optional dependency. When ``cityscapesscripts`` is
installed, :func:`id_to_train_id_table` takes its table instead.
"""
from typing import Dict, List, NamedTuple

import numpy as np

IGNORE_INDEX = 255


class CsLabel(NamedTuple):
    """One Cityscapes label: name, label id, train id, has instances."""

    name: str
    id: int
    train_id: int
    has_instances: bool


# (name, id, trainId, hasInstances), in cityscapesscripts' order.
LABELS: List[CsLabel] = [
    CsLabel(*row) for row in [
        ('unlabeled', 0, 255, False),
        ('ego vehicle', 1, 255, False),
        ('rectification border', 2, 255, False),
        ('out of roi', 3, 255, False),
        ('static', 4, 255, False),
        ('dynamic', 5, 255, False),
        ('ground', 6, 255, False),
        ('road', 7, 0, False),
        ('sidewalk', 8, 1, False),
        ('parking', 9, 255, False),
        ('rail track', 10, 255, False),
        ('building', 11, 2, False),
        ('wall', 12, 3, False),
        ('fence', 13, 4, False),
        ('guard rail', 14, 255, False),
        ('bridge', 15, 255, False),
        ('tunnel', 16, 255, False),
        ('pole', 17, 5, False),
        ('polegroup', 18, 255, False),
        ('traffic light', 19, 6, False),
        ('traffic sign', 20, 7, False),
        ('vegetation', 21, 8, False),
        ('terrain', 22, 9, False),
        ('sky', 23, 10, False),
        ('person', 24, 11, True),
        ('rider', 25, 12, True),
        ('car', 26, 13, True),
        ('truck', 27, 14, True),
        ('bus', 28, 15, True),
        ('caravan', 29, 255, True),
        ('trailer', 30, 255, True),
        ('train', 31, 16, True),
        ('motorcycle', 32, 17, True),
        ('bicycle', 33, 18, True),
        ('license plate', -1, -1, False),
    ]
]

NAME_TO_LABEL: Dict[str, CsLabel] = {lab.name: lab for lab in LABELS}

# The 19 evaluated classes, indexed by train id.
TRAIN_ID_TO_LABEL_ID: Dict[int, int] = {
    lab.train_id: lab.id
    for lab in LABELS if 0 <= lab.train_id < IGNORE_INDEX
}


def builtin_id_to_train_id() -> Dict[int, int]:
    """Label id → train id for all non-negative label ids (built-in)."""
    return {lab.id: lab.train_id for lab in LABELS if lab.id >= 0}


def id_to_train_id() -> Dict[int, int]:
    """Label id → train id, from ``cityscapesscripts`` when installed."""
    try:
        from cityscapesscripts.helpers.labels import labels
    except ImportError:
        return builtin_id_to_train_id()
    return {lab.id: lab.trainId for lab in labels if lab.id >= 0}


def id_to_train_id_table() -> np.ndarray:
    """Look-up table ``[256] uint8``: label id → train id (else 255)."""
    table = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for label_id, train_id in id_to_train_id().items():
        # cityscapesscripts uses -1 for "not a train class" in some forks.
        table[label_id] = train_id if 0 <= train_id < 256 else IGNORE_INDEX
    return table


def train_id_to_id_table() -> np.ndarray:
    """Look-up table ``[256] uint8``: train id → label id (else 0)."""
    table = np.zeros(256, dtype=np.uint8)
    for train_id, label_id in TRAIN_ID_TO_LABEL_ID.items():
        table[train_id] = label_id
    return table

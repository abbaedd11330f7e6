"""The built-in Cityscapes label table against cityscapesscripts'."""
import numpy as np
import pytest

from emanet.datasets import CityscapesDataset
from emanet.datasets.cityscapes_labels import (
    LABELS,
    TRAIN_ID_TO_LABEL_ID,
    builtin_id_to_train_id,
    id_to_train_id_table,
    train_id_to_id_table,
)


def test_builtin_table_matches_cityscapesscripts():
    cs_labels = pytest.importorskip('cityscapesscripts.helpers.labels')
    ours = [(lab.name, lab.id, lab.train_id, lab.has_instances)
            for lab in LABELS]
    theirs = [(lab.name, lab.id, lab.trainId, lab.hasInstances)
              for lab in cs_labels.labels]
    assert ours == theirs
    assert builtin_id_to_train_id() == {
        lab.id: lab.trainId
        for lab in cs_labels.labels if lab.id >= 0
    }
    assert TRAIN_ID_TO_LABEL_ID == {
        t: lab.id
        for t, lab in cs_labels.trainId2label.items() if 0 <= t < 255
    }


def test_train_ids_follow_dataset_classes():
    classes = CityscapesDataset.METAINFO['classes']
    by_name = {lab.name: lab for lab in LABELS}
    assert [by_name[c].train_id for c in classes] == list(range(19))


def test_lookup_tables_round_trip():
    to_train, to_id = id_to_train_id_table(), train_id_to_id_table()
    assert to_train.dtype == np.uint8 and to_train.shape == (256, )
    assert to_train[7] == 0 and to_train[26] == 13 and to_train[1] == 255
    assert to_train[34:].tolist() == [255] * (256 - 34)
    train_ids = np.arange(19, dtype=np.uint8)
    assert (to_train[to_id[train_ids]] == train_ids).all()

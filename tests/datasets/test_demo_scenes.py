"""The procedural street scenes: shapes, label ids, determinism."""
import numpy as np

from emanet.datasets.cityscapes_labels import NAME_TO_LABEL
from emanet.datasets.demo_scenes import HEIGHT, WIDTH, render_scene


def test_scene_arrays_and_annotation():
    image, label_ids, instance_ids, annotation = render_scene([0, 0, 0])
    assert image.shape == (HEIGHT, WIDTH, 3) and image.dtype == np.uint8
    assert label_ids.shape == (HEIGHT, WIDTH) and label_ids.dtype == np.uint8
    assert instance_ids.dtype == np.uint16
    # Instances carry their label id: id * 1000 + k.
    np.testing.assert_array_equal(
        np.where(instance_ids >= 1000, instance_ids // 1000, instance_ids),
        label_ids)
    assert (annotation['imgHeight'], annotation['imgWidth']) == (HEIGHT,
                                                                 WIDTH)
    ids = {NAME_TO_LABEL[o['label']].id for o in annotation['objects']}
    assert set(np.unique(label_ids).tolist()) <= ids | {0}


def test_same_seed_same_scene():
    first, again = render_scene([0, 0, 0]), render_scene([0, 0, 0])
    for a, b in zip(first[:3], again[:3]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(render_scene([1, 0, 0])[0], first[0])

"""The inferencer's inputs: paths, arrays, folders, globs and lists, each
named after its source; files that are not images named in one line."""
import os

import cv2
import numpy as np
import pytest

from emanet.apis.inputs import (
    Source,
    SourceDataset,
    list_sources,
    read_image,
)
from emanet.utils.errors import BadDataError, MissingDataError, UserError


def _image(path, value=0, shape=(8, 16)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(str(path), np.full((*shape, 3), value, np.uint8))
    return str(path)


@pytest.fixture
def tree(tmp_path):
    """Two a.png in different folders, a JPEG, and a text file."""
    _image(tmp_path / 'x' / 'a.png', 1)
    _image(tmp_path / 'y' / 'deep' / 'a.png', 2)
    _image(tmp_path / 'b.JPG', 3)
    (tmp_path / 'notes.txt').write_text('not an image')
    return tmp_path


def test_folder_is_walked_and_names_keep_the_subfolders(tree):
    sources = list_sources(str(tree))
    assert [s.name for s in sources] == ['b', 'x/a', 'y/deep/a']
    assert sources[1].path == str(tree / 'x' / 'a.png')


def test_glob_names_are_relative_to_its_folder(tree):
    found = list_sources(str(tree / '**' / 'a.png'))
    assert [s.name for s in found] == ['x/a', 'y/deep/a']


def test_list_of_files_keeps_folders_below_the_common_one(tree):
    one = list_sources(str(tree / 'x' / 'a.png'))
    assert [s.name for s in one] == ['a']
    both = list_sources([tree / 'x' / 'a.png', str(tree / 'y/deep/a.png')])
    assert [s.name for s in both] == ['x/a', 'y/deep/a']


def test_arrays_are_numbered_and_grayscale_gets_three_channels():
    sources = list_sources([np.zeros((4, 5, 3), np.uint8),
                            np.zeros((4, 5), np.uint8)])
    assert [s.name for s in sources] == ['00000000', '00000001']
    assert sources[1].array.shape == (4, 5, 3)


def test_missing_and_empty_inputs_are_one_line(tree):
    with pytest.raises(MissingDataError, match='nothing.png is not a file'):
        list_sources(str(tree / 'nothing.png'))
    (tree / 'empty').mkdir()
    with pytest.raises(MissingDataError, match='no images .* in the '
                       'folder .*empty'):
        list_sources(str(tree / 'empty'))
    with pytest.raises(MissingDataError, match='matching .*\\*.gif'):
        list_sources(str(tree / '*.gif'))


def test_two_sources_writing_one_name_are_refused(tree):
    _image(tree / 'x' / 'a.jpg')
    with pytest.raises(UserError, match='would both write outputs named '
                       'x/a'):
        list_sources(str(tree))


def test_files_that_are_not_images_are_named(tmp_path):
    empty = tmp_path / 'empty.png'
    empty.write_bytes(b'')
    text = tmp_path / 'text.png'
    text.write_text('hello')
    with pytest.raises(BadDataError, match='empty.png is empty'):
        read_image(str(empty))
    with pytest.raises(BadDataError) as err:
        read_image(str(text))
    assert 'text.png is not an image' in str(err.value)
    assert '\n' not in str(err.value)
    good = _image(tmp_path / 'good.png', 7, (4, 6))
    assert read_image(good).shape == (4, 6, 3)


def test_dataset_reports_bad_files_instead_of_raising(tmp_path):
    bad = tmp_path / 'bad.png'
    bad.write_bytes(b'')
    good = _image(tmp_path / 'good.png', 5, (4, 6))
    seen = []

    def pipeline(results):
        seen.append(results['ori_shape'])
        return dict(inputs=results['img'], data_samples=results['img_path'])

    dataset = SourceDataset([Source('bad', str(bad)),
                             Source('good', good)], pipeline,
                            keep_images=True)
    assert 'empty' in dataset[0]['error'] and dataset[0]['index'] == 0
    item = dataset[1]
    assert item['data_samples'] == good and item['image'].shape == (4, 6, 3)
    assert seen == [(4, 6)]

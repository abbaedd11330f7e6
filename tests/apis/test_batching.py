"""Batches of several sizes give the labels of one image at a time;
streams read ahead without holding the data set."""

import torch
from torch.utils.data import Dataset

from emanet.apis.batching import predict_batch, size_groups, stream_predictions
from emanet.structures import SegDataSample


def _sample(shape):
    sample = SegDataSample()
    sample.set_metainfo(dict(ori_shape=shape, img_shape=shape))
    return sample


def _images(shapes, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (3, *s), dtype=torch.uint8, generator=gen)
            for s in shapes]


def test_size_groups_keep_the_order_of_first_images():
    images = _images([(8, 8), (4, 8), (8, 8), (4, 8), (2, 2)])
    assert size_groups(images) == [[0, 2], [1, 3], [4]]


def test_mixed_sizes_give_the_labels_of_one_at_a_time(plain_model):
    shapes = [(64, 128), (48, 96), (64, 128), (40, 72)]
    images = _images(shapes)
    batch = predict_batch(plain_model, dict(
        inputs=images, data_samples=[_sample(s) for s in shapes]))
    for image, shape, got in zip(images, shapes, batch):
        alone = predict_batch(plain_model, dict(
            inputs=[image], data_samples=[_sample(shape)]))[0]
        assert got.pred_sem_seg.shape == shape
        assert torch.equal(got.pred_sem_seg.data, alone.pred_sem_seg.data)
        assert torch.allclose(got.seg_logits.data, alone.seg_logits.data,
                              atol=1e-4)


class _Counted(Dataset):
    """Items of one 16x16 image; counts the items read."""

    def __init__(self, num):
        self.num, self.read = num, 0

    def __len__(self):
        return self.num

    def __getitem__(self, index):
        self.read += 1
        if index == 2:
            return dict(index=index, error='not an image')
        return dict(index=index, inputs=_images([(16, 16)], index)[0],
                    data_samples=_sample((16, 16)))


def test_stream_reads_as_it_goes_and_passes_errors_on(plain_model):
    dataset = _Counted(40)
    stream = stream_predictions(plain_model, dataset, batch_size=4,
                                progress=False)
    first = next(stream)
    assert dataset.read == 4  # one batch read, not the data set
    assert [item['index'] for item, _ in first] == [0, 1, 2, 3]
    assert first[2][1] is None and first[2][0]['error'] == 'not an image'
    assert all(s.pred_sem_seg.shape == (16, 16)
               for i, (_, s) in enumerate(first) if i != 2)
    assert sum(len(batch) for batch in stream) == 36


def test_stream_in_workers_keeps_the_order(plain_model, capsys):
    """Data loader workers in the test process: their exits (SIGCHLD)
    after OpenVINO ran here once crashed it (emanet.utils.signal_stack)."""
    batches = stream_predictions(plain_model, _Counted(6), 4,
                                 num_workers=1)
    assert [item['index'] for b in batches for item, _ in b] == \
        list(range(6))
    assert '6/6' in capsys.readouterr().err  # the bar counts images

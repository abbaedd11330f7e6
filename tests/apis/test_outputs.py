"""The inferencer's files of one image: named after its source, label ids
on request, probabilities whose argmax is the label map."""
import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from emanet.apis.outputs import OutputFiles, call_result, overlay_visualizer
from emanet.structures import SegDataSample
from emanet.utils.errors import UserError
from emanet.utils.prob_io import read_probs


def _sample(num_classes: int = 19) -> SegDataSample:
    logits = torch.randn(num_classes, 6, 8,
                         generator=torch.Generator().manual_seed(0))
    sample = SegDataSample()
    sample.seg_logits = PixelData(data=logits)
    sample.pred_sem_seg = PixelData(data=logits.argmax(0, keepdim=True))
    return sample


def test_files_named_after_the_source_with_its_sub_folders(tmp_path):
    files = OutputFiles(str(tmp_path / 'pred'), str(tmp_path / 'vis'),
                        str(tmp_path / 'prob'))
    sample = _sample()
    drawn = np.zeros((6, 8, 3), np.uint8)
    drawn[..., 0] = 200  # red in RGB
    assert not files.done('city/a')
    written = files.write('city/a', sample, drawn)
    assert written == {kind: str(tmp_path / kind / 'city' / f'a{suffix}')
                       for kind, suffix in (('pred', '.png'),
                                            ('vis', '.png'),
                                            ('prob', '.npz'))}
    assert files.done('city/a') and not files.done('city/b')
    label = sample.pred_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(
        cv2.imread(written['pred'], cv2.IMREAD_UNCHANGED), label)
    assert cv2.imread(written['vis'])[0, 0].tolist() == [0, 0, 200]  # BGR
    probs = read_probs(written['prob'])  # [C, H, W] float16
    assert probs.shape == (19, 6, 8) and probs.dtype == np.float16
    np.testing.assert_array_equal(probs.argmax(0), label)
    np.testing.assert_allclose(probs.astype(np.float32).sum(0), 1,
                               atol=1e-2)


def test_label_ids_and_refusals(tmp_path):
    files = OutputFiles(str(tmp_path / 'pred'), None, None, label_ids=True)
    sample = _sample()
    path = files.write('a', sample)['pred']
    train_ids = sample.pred_sem_seg.data[0].numpy()
    ids = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    # train id 0 (road) is label id 7, 18 (bicycle) is 33
    assert set(ids[train_ids == 0].tolist()) <= {7}
    assert set(ids[train_ids == 18].tolist()) <= {33}
    with pytest.raises(UserError, match='label_ids=True maps the 19'):
        OutputFiles(str(tmp_path / 'p'), None, None, label_ids=True,
                    num_classes=5)
    with pytest.raises(UserError, match="save_probs='jpg'"):
        OutputFiles(None, None, str(tmp_path / 'p'), prob_format='jpg')
    (tmp_path / 'file').write_text('')
    with pytest.raises(UserError, match='pred_out_dir'):
        OutputFiles(str(tmp_path / 'file'), None, None)


def test_call_result_unwraps_one_image_and_the_visualizer_takes_names():
    one = call_result([np.zeros((2, 2))], [np.ones((2, 2, 3))], extra=1)
    assert one['predictions'].shape == (2, 2) and one['extra'] == 1
    assert one['visualization'].shape == (2, 2, 3)
    two = call_result([np.zeros((2, 2))] * 2, None)
    assert len(two['predictions']) == 2 and two['visualization'] == []
    visualizer = overlay_visualizer(None, dataset_name='cityscapes',
                                    name='outputs_test')
    assert visualizer.dataset_meta['classes'][0] == 'road'
    with pytest.raises(UserError, match="dataset_name 'ade'"):
        overlay_visualizer(None, dataset_name='ade', name='outputs_test2')

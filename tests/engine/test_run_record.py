"""The record of a test run: plain JSON, settings first, written whole."""
import json
import os

from emanet.engine.run_record import (
    SETTING_KEYS,
    build_test_record,
    record_path,
    run_mode,
    settings_line,
    write_record,
)

SETTINGS = dict(config='c.py', model_file='m.pth', backend='pytorch',
                mode='whole', fast=True, amp=False, aug_test=False,
                format_only=False, device='cpu: test CPU')


def test_record_is_plain_json_with_settings_first(tmp_path):
    record = build_test_record(**SETTINGS, timestamp='20260101_000000',
                               num_images=2, seconds=1.234,
                               metrics={'mIoU': 50.0,
                                        'mDice': float('nan')},
                               per_class={'Class': ['a'],
                                          'IoU': [float('nan')]})
    assert list(record)[:len(SETTING_KEYS)] == list(SETTING_KEYS)
    assert record['seconds'] == 1.2
    assert record['metrics'] == {'mIoU': 50.0, 'mDice': None}
    assert record['per_class']['IoU'] == [None]
    path = tmp_path / 'deep' / 'r.json'
    write_record(str(path), record)
    assert json.loads(path.read_text()) == record  # strict JSON (no NaN)
    assert os.listdir(path.parent) == ['r.json']  # no temporary file left
    line = settings_line(record)
    assert line.startswith('test settings: config=c.py, model_file=m.pth, '
                           'backend=pytorch, mode=whole, fast=True, ')
    assert 'metrics' not in line and 'per_class' not in line
    assert record_path('/w/20260101_000000') == \
        '/w/20260101_000000/test_metrics.json'
    assert record_path('/w/x', 'out/m.json') == 'out/m.json'


def test_run_mode_looks_through_the_tta_wrapper():
    slide = dict(type='EncoderDecoder', test_cfg=dict(mode='slide'))
    assert run_mode(slide) == 'slide'
    assert run_mode(dict(type='SegTTAModel', module=slide)) == 'slide'
    assert run_mode(dict(type='EncoderDecoder', test_cfg={})) == 'whole'

"""Read the record ``tools/test.py`` writes for each run.

Each run writes ``<work_dir>/<timestamp>/test_metrics.json``, in its own
log folder (:mod:`emanet.engine.run_record`).
"""
import glob
import json
import os.path as osp


def test_record_files(work_dir) -> list:
    """The records of every ``tools/test.py`` run in ``work_dir``, oldest
    first (the timestamps sort)."""
    return sorted(glob.glob(osp.join(str(work_dir), '*',
                                     'test_metrics.json')))


def read_test_record(work_dir) -> dict:
    """The record of the one ``tools/test.py`` run in ``work_dir``."""
    files = test_record_files(work_dir)
    assert len(files) == 1, f'one test record expected in {work_dir}: {files}'
    with open(files[0], encoding='utf-8') as f:
        return json.load(f)


test_record_files.__test__ = False  # a helper, not a test


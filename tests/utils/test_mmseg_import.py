"""mmsegmentation imported beside mmcv-lite for the import only."""
import importlib.util
import sys

import pytest

from emanet.utils import mmseg_import


@pytest.mark.skipif(not mmseg_import.mmseg_available(),
                    reason='mmsegmentation is not installed')
def test_mmseg_imports_and_the_process_sees_mmcv_lite_again():
    import mmcv
    version = mmcv.__version__
    stubbed = [name for name in mmseg_import.STUBBED
               if name not in sys.modules and
               importlib.util.find_spec(name) is None]
    models = mmseg_import.import_mmseg()
    assert models.scope == 'mmseg'
    assert models.get('EncoderDecoder') is not None
    assert models.get('EMAHead') is not None
    assert mmcv.__version__ == version
    for name in stubbed:  # the stubs are gone again
        assert name not in sys.modules
    assert mmseg_import.import_mmseg() is models  # again: no harm


def test_without_mmsegmentation_nothing_is_imported(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, 'find_spec',
        lambda name, *args: None if name == 'mmseg' else find_spec(
            name, *args))
    assert not mmseg_import.mmseg_available()
    assert mmseg_import.import_mmseg() is None

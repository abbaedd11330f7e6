"""tests/ mirrors the code: every module of emanet/ has its test file at
the same path (``emanet/engine/checkpoint/saving.py`` ->
``tests/engine/checkpoint/test_saving.py``), every script of tools/ and
demo/ one in tests/tools/ (``tools/analysis_tools/get_flops.py`` ->
``tests/tools/test_get_flops.py``), and the code the tests share lives in
tests/helpers/.

Package ``__init__.py`` files are exempt; so are the modules of
``EXEMPT``, each with the reason.
"""
import os.path as osp
from pathlib import Path
from typing import Dict, List

import pytest

from helpers.tool_loader import REPO

ROOT = Path(REPO)
TESTS = ROOT / 'tests'

# module (from the repository root) -> why it has no test file of its own
EXEMPT: Dict[str, str] = {}


def _modules(folder: str) -> List[Path]:
    return sorted(p.relative_to(ROOT) for p in (ROOT / folder).rglob('*.py')
                  if p.name != '__init__.py' and '__pycache__' not in p.parts)


def package_mirror(module: Path) -> Path:
    """``emanet/a/b.py`` -> ``tests/a/test_b.py``."""
    return Path('tests', *module.parts[1:-1], f'test_{module.name}')


def script_mirror(script: Path) -> Path:
    """``tools/x/y.py`` or ``demo/y.py`` -> ``tests/tools/test_y.py``."""
    return Path('tests', 'tools', f'test_{script.name}')


def test_mirror_paths():
    assert package_mirror(Path('emanet/engine/checkpoint/saving.py')) == \
        Path('tests/engine/checkpoint/test_saving.py')
    assert package_mirror(Path('emanet/registry.py')) == \
        Path('tests/test_registry.py')
    assert script_mirror(Path('tools/analysis_tools/get_flops.py')) == \
        Path('tests/tools/test_get_flops.py')
    assert script_mirror(Path('demo/video_demo.py')) == \
        Path('tests/tools/test_video_demo.py')


@pytest.mark.parametrize('folder,mirror', [
    ('emanet', package_mirror), ('tools', script_mirror),
    ('demo', script_mirror)])
def test_every_module_has_its_test_file(folder, mirror):
    modules = _modules(folder)
    assert modules, f'no modules found under {folder}/'
    missing = [f'{m} -> {mirror(m)}' for m in modules
               if str(m) not in EXEMPT and not (ROOT / mirror(m)).is_file()]
    assert not missing, (
        'modules without a test file at the mirrored path (write one, or '
        'move the tests that cover the module there):\n  ' +
        '\n  '.join(missing))


def test_exempt_modules_exist_and_have_no_test_file():
    for module, why in EXEMPT.items():
        assert why, module
        path = Path(module)
        assert (ROOT / path).is_file(), f'{module} is gone: drop it from ' \
            'EXEMPT'
        mirror = (package_mirror if path.parts[0] == 'emanet'
                  else script_mirror)(path)
        assert not (ROOT / mirror).is_file(), \
            f'{mirror} exists now: drop {module} from EXEMPT'


def test_shared_code_lives_in_helpers():
    loose = sorted(
        str(p.relative_to(TESTS)) for p in TESTS.rglob('*.py')
        if not p.name.startswith('test_') and p.name != 'conftest.py'
        and p.parts[len(TESTS.parts)] not in ('helpers', 'data')
        and '__pycache__' not in p.parts)
    assert not loose, (f'modules in tests/ that are neither tests nor '
                       f'conftest.py: {loose}; shared code goes in '
                       'tests/helpers/')
    assert osp.isfile(TESTS / 'helpers' / '__init__.py')

"""After ``import emanet`` alone, every registered class is found by name.

The registered classes are read from the source (``@REGISTRY.
register_module()`` decorators under ``emanet/``) and looked up in a fresh
interpreter that only ran ``import emanet``, so nothing imported by the
test run itself can help.
"""
import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'emanet'


def registered_classes() -> List[Tuple[str, str]]:
    """``(registry name in emanet.registry, registered name)`` pairs."""
    found = []
    for path in sorted(PACKAGE.rglob('*.py')):
        tree = ast.parse(path.read_text(encoding='utf-8'))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            for dec in node.decorator_list:
                if (isinstance(dec, ast.Call)
                        and isinstance(dec.func, ast.Attribute)
                        and dec.func.attr == 'register_module'
                        and isinstance(dec.func.value, ast.Name)):
                    name = node.name
                    for kw in dec.keywords:
                        if kw.arg == 'name':
                            name = ast.literal_eval(kw.value)
                    found.append((dec.func.value.id, name))
    return found


def test_source_scan_finds_models_and_backends():
    pairs = registered_classes()
    assert ('MODELS', 'EncoderDecoder') in pairs
    assert ('MODELS', 'ONNXRuntimeSegmentor') in pairs
    assert ('MODELS', 'OpenVINOSegmentor') in pairs
    assert {registry for registry, _ in pairs} >= {
        'MODELS', 'DATASETS', 'TRANSFORMS', 'METRICS', 'HOOKS'}


ENGINE_LOOKUPS = [('HOOKS', 'CheckpointHook'), ('RUNNERS', 'SegRunner'),
                  ('LOOPS', 'IterBasedTrainLoop'),
                  ('OPTIM_WRAPPERS', 'CPUAmpOptimWrapper')]
# Run in a fresh interpreter: the engine modules imported after
# ``import emanet`` alone, then the module of each engine lookup, then
# the registered pairs not found.
LOOKUP_SCRIPT = '''
import json, sys
import emanet
from emanet import registry
print(json.dumps([m for m in sys.modules if m.startswith('emanet.engine')]))
engine, pairs = json.loads(sys.argv[1])
print(json.dumps([getattr(getattr(registry, r).get(n), '__module__', None)
                  for r, n in engine]))
print(json.dumps([p for p in pairs if getattr(registry, p[0]).get(p[1])
                  is None]))
'''


@pytest.fixture(scope='module')
def lookups(tmp_path_factory) -> List[list]:
    """The three lines of ``LOOKUP_SCRIPT``, decoded."""
    # from another folder: the installed package, not the working dir
    result = subprocess.run(
        [sys.executable, '-c', LOOKUP_SCRIPT,
         json.dumps([ENGINE_LOOKUPS, registered_classes()])],
        capture_output=True, text=True, check=True,
        cwd=tmp_path_factory.mktemp('registry'))
    return [json.loads(line) for line in result.stdout.splitlines()[-3:]]


def test_every_registered_class_is_found_after_import_emanet(lookups):
    assert lookups[2] == []


def test_engine_registries_import_their_modules_on_first_use(lookups):
    assert lookups[0] == []
    assert lookups[1] == [
        'emanet.engine.hooks.checkpoint_hook', 'emanet.engine.runner',
        'emanet.engine.loops', 'emanet.engine.optim_wrappers']

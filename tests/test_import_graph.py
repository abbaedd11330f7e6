"""No import circle inside the package.

The graph is read from the source: every ``import`` and ``from ...
import`` of every module, including those inside functions (a circle
that works today because one side imports late still ties the two
modules together). Importing ``a.b.c`` also runs the ``__init__`` of the
packages ``a`` and ``a.b`` that are not the importer's own, so those count
as imported too.
"""
import ast
import os
import os.path as osp
from typing import Dict, List, Optional, Set

from helpers.tool_loader import REPO

Graph = Dict[str, Set[str]]


def _modules(root: str, package: str) -> Dict[str, str]:
    """Module name -> file of every module of ``package`` under ``root``."""
    found = {}
    for folder, _, files in os.walk(osp.join(root, package)):
        for name in files:
            if not name.endswith('.py'):
                continue
            parts = osp.relpath(osp.join(folder, name), root)[:-3].split(
                os.sep)
            if parts[-1] == '__init__':
                parts.pop()
            found['.'.join(parts)] = osp.join(folder, name)
    return found


def _imported(module: str, path: str, modules: Dict[str, str]) -> Set[str]:
    """The modules of ``modules`` that ``module`` imports, anywhere in it."""
    is_package = path.endswith('__init__.py')
    package = module if is_package else module.rpartition('.')[0]
    names = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parts = package.split('.')[:len(package.split('.')) -
                                            node.level + 1]
                base = '.'.join(parts + ([base] if base else []))
            for alias in node.names:
                sub = f'{base}.{alias.name}'
                names.add(sub if sub in modules else base)
    own = {module.rsplit('.', i)[0] for i in range(module.count('.') + 1)}
    imported = set()
    for name in names:
        if name not in modules:
            continue
        parts = name.split('.')
        # The packages above it run their __init__ first, unless this
        # module is inside them (they are already being imported).
        imported.update(p for p in ('.'.join(parts[:i])
                                    for i in range(1, len(parts) + 1))
                        if p not in own and p in modules)
    return imported


def import_graph(root: str, package: str) -> Graph:
    """Module -> the package's modules it imports."""
    modules = _modules(root, package)
    return {m: _imported(m, path, modules) for m, path in modules.items()}


def find_cycle(graph: Graph) -> Optional[List[str]]:
    """One import circle (``[a, b, ..., a]``), or None."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_circle_in_the_package():
    graph = import_graph(REPO, 'emanet')
    assert 'emanet.datasets.demo_data' in graph
    cycle = find_cycle(graph)
    assert cycle is None, 'import circle: ' + ' -> '.join(cycle)


def _write(root, files: Dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_circles_through_functions_and_package_inits_are_found(tmp_path):
    _write(tmp_path, {
        'pkg/__init__.py': 'from . import registry\n',
        'pkg/registry.py': '',
        'pkg/data/__init__.py': 'from .city import City\n',
        'pkg/data/base.py': 'import os\n',
        'pkg/data/city.py': 'from .base import x\nfrom pkg import registry\n',
        'pkg/data/demo.py': ('def roots():\n'
                             '    from .city import City\n'),
        'pkg/apis/__init__.py': '',
        'pkg/apis/run.py': 'from pkg.data.demo import roots\n',
    })
    graph = import_graph(str(tmp_path), 'pkg')
    # A package's own modules do not loop back through its __init__.
    assert graph['pkg.data.city'] == {'pkg.data.base', 'pkg.registry'}
    assert graph['pkg.apis.run'] == {'pkg.data', 'pkg.data.demo'}
    assert find_cycle(graph) is None
    # An import inside a function closes a circle.
    _write(tmp_path, {'pkg/data/city.py': 'from . import demo\n'})
    assert find_cycle(import_graph(str(tmp_path), 'pkg')) == [
        'pkg.data.city', 'pkg.data.demo', 'pkg.data.city']
    # So does a module whose package's __init__ imports it back.
    _write(tmp_path, {
        'pkg/data/city.py': '',
        'pkg/data/__init__.py': 'from pkg.apis import run\n'})
    assert find_cycle(import_graph(str(tmp_path), 'pkg')) == [
        'pkg.apis.run', 'pkg.data', 'pkg.apis.run']

"""Workspace: buffers lent to many layers, one block per thread."""
import threading

import pytest
import torch

from emanet.deploy.fast_path.workspace import Workspace


def test_workspace_is_reused_and_per_thread():
    workspace = Workspace()
    like = torch.empty(0)
    workspace.reserve(dict(tiles=20, values=6), like)
    tiles = workspace.get('tiles', (4, 5))
    values = workspace.get('values', (2, 3))
    assert values.data_ptr() >= tiles.data_ptr() + 20 * 4  # no overlap
    workspace.reserve(dict(tiles=12), like)  # fits: same memory
    assert workspace.get('tiles', (3, 4)).data_ptr() == tiles.data_ptr()
    workspace.reserve(dict(tiles=64), like)  # grows, keeps 'values'
    assert workspace.get('tiles', (8, 8)).shape == (8, 8)
    assert workspace.get('values', (6, )).numel() == 6
    with pytest.raises(RuntimeError, match="'products' of 4 elements"):
        workspace.get('products', (4, ))
    other = {}

    def use_in_thread():
        workspace.reserve(dict(tiles=64), like)
        other['tiles'] = workspace.get('tiles', (8, 8))

    thread = threading.Thread(target=use_in_thread)
    thread.start()
    thread.join()
    assert other['tiles'].data_ptr() != workspace.get('tiles',
                                                       (8, 8)).data_ptr()


def test_copies_start_empty():
    import copy
    import pickle
    workspace = Workspace()
    workspace.reserve(dict(tiles=8), torch.empty(0))
    for twin in (copy.deepcopy(workspace),
                 pickle.loads(pickle.dumps(workspace))):
        with pytest.raises(RuntimeError, match='was not reserved'):
            twin.get('tiles', (8, ))
    assert workspace.get('tiles', (8, )).numel() == 8

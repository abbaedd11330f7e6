"""Publishing: the weights and meta alone, under a hashed name."""
import hashlib

import pytest
import torch

from emanet.engine.checkpoint.loading import load_checkpoint_file
from emanet.engine.checkpoint.publishing import (
    publish_checkpoint,
    published_name,
    strip_checkpoint,
)
from emanet.utils.errors import CheckpointError


def _training_checkpoint() -> dict:
    return dict(state_dict={'w': torch.ones(2)},
                meta=dict(iter=4, random_state=[{}], dataset_meta={}),
                optimizer={}, message_hub={})


def test_only_weights_and_meta_are_kept():
    published, dropped = strip_checkpoint(_training_checkpoint())
    assert set(published) == {'state_dict', 'meta'}
    assert published['meta'] == dict(iter=4, dataset_meta={})
    assert dropped == ['message_hub', 'optimizer', 'meta.random_state']
    bare, dropped = strip_checkpoint({'w': torch.ones(1)})
    assert bare == {'state_dict': {'w': torch.ones(1)}} and dropped == []
    with pytest.raises(CheckpointError, match='NaN/Inf in 1 tensors'):
        strip_checkpoint({'w': torch.tensor([float('nan')])})
    with pytest.raises(CheckpointError, match='holds no model weights'):
        strip_checkpoint({'state_dict': {}})


def test_published_file_is_named_after_its_hash(tmp_path):
    source = tmp_path / 'iter_4.pth'
    torch.save(_training_checkpoint(), source)
    result = publish_checkpoint(str(source), str(tmp_path / 'emanet.pth'))
    data = open(result['path'], 'rb').read()
    sha256 = hashlib.sha256(data).hexdigest()
    assert result['sha256'] == sha256
    assert result['path'] == published_name(str(tmp_path / 'emanet.pth'),
                                             sha256)
    assert result['path'].endswith(f'emanet-{sha256[:8]}.pth')
    assert set(load_checkpoint_file(result['path'])) == {'state_dict',
                                                         'meta'}

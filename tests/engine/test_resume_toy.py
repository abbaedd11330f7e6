"""Resuming repeats an uninterrupted run exactly (toy model, CPU)."""
import shutil

import torch
from engine_toy import losses, make_runner

from emanet.engine.checkpoint_loading import load_checkpoint_file


def _assert_same_state(a: dict, b: dict) -> None:
    for key in a['state_dict']:
        assert torch.equal(a['state_dict'][key], b['state_dict'][key]), key
    state_a, state_b = a['optimizer']['state'], b['optimizer']['state']
    assert state_a.keys() == state_b.keys()
    for idx in state_a:
        assert torch.equal(state_a[idx]['momentum_buffer'],
                           state_b[idx]['momentum_buffer'])
    assert a['param_schedulers'] == b['param_schedulers']
    assert torch.equal(a['meta']['random_state'][0]['torch'],
                       b['meta']['random_state'][0]['torch'])


def test_resume_matches_uninterrupted_run(tmp_path):
    full = make_runner(tmp_path / 'full', max_iters=8, interval=4)
    full.train()
    reference = losses(full)
    assert len(reference) == 8

    # "Killed after iteration 4": only iter_4.pth and last_checkpoint exist.
    killed = tmp_path / 'killed'
    killed.mkdir()
    shutil.copy(tmp_path / 'full' / 'iter_4.pth', killed / 'iter_4.pth')
    (killed / 'last_checkpoint').write_text(str(killed / 'iter_4.pth'))

    resumed = make_runner(killed, max_iters=8, interval=4, resume=True)
    resumed.train()
    assert losses(resumed) == reference  # bit-identical, iterations 1..8
    _assert_same_state(load_checkpoint_file(str(tmp_path / 'full/iter_8.pth')),
                       load_checkpoint_file(str(killed / 'iter_8.pth')))
    assert torch.equal(full.model.bases, resumed.model.bases)

    # Resume from an explicit path (``--resume PATH``) into a new work dir.
    explicit = make_runner(tmp_path / 'explicit', max_iters=8, interval=4,
                           resume=True,
                           load_from=str(tmp_path / 'full' / 'iter_4.pth'))
    explicit.train()
    assert losses(explicit) == reference
    _assert_same_state(
        load_checkpoint_file(str(tmp_path / 'full/iter_8.pth')),
        load_checkpoint_file(str(tmp_path / 'explicit/iter_8.pth')))

"""EMAModule / EMAHead: shapes, bases update, gradients, precision, DDP."""
import os

import pytest
import torch

from emanet.models.decode_heads import EMAHead, EMAModule

from helpers.processes import run_two_gloo_processes

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics

C, K, T, MOMENTUM = 16, 8, 3, 0.1


def reference_em(feats: torch.Tensor, bases: torch.Tensor, stages: int):
    """EM written with plain ops, float64: final bases [B, C, K], recon."""
    b, c, h, w = feats.shape
    x = feats.double().reshape(b, c, h * w)  # [B, C, N]
    mu = bases.double().repeat(b, 1, 1)  # [B, C, K]
    for _ in range(stages):
        z = torch.softmax(x.transpose(1, 2) @ mu, dim=2)  # [B, N, K]
        z_ = z / z.sum(dim=1, keepdim=True)  # [B, N, K]
        mu = x @ z_  # [B, C, K]
        mu = mu / mu.norm(dim=1, keepdim=True)  # [B, C, K]
    recon = (mu @ z.transpose(1, 2)).reshape(b, c, h, w)  # [B, C, H, W]
    return mu, recon


def expected_bases(old: torch.Tensor, final: torch.Tensor) -> torch.Tensor:
    """Momentum step toward the L2-normalised batch mean of ``final``."""
    mean = final.mean(dim=0, keepdim=True)  # [1, C, K]
    mean = mean / mean.norm(dim=1, keepdim=True)
    return (1 - MOMENTUM) * old.double() + MOMENTUM * mean


def tiny_head(**kwargs) -> EMAHead:
    cfg = dict(in_channels=12, channels=8, ema_channels=C, num_bases=K,
               num_stages=T, num_classes=5, dropout_ratio=0.0,
               norm_cfg=dict(type='BN'), in_index=-1)
    cfg.update(kwargs)
    return EMAHead(**cfg)


def test_shapes_and_unit_norm_bases():
    torch.manual_seed(0)
    module = EMAModule(C, K, T, MOMENTUM)
    assert module.bases.shape == (1, C, K)
    torch.testing.assert_close(module.bases.norm(dim=1), torch.ones(1, K))
    recon = module(torch.randn(2, C, 5, 7))
    assert recon.shape == (2, C, 5, 7)
    # the updated buffer stays close to unit norm (convex mix of unit vecs)
    assert torch.all(module.bases.norm(dim=1) <= 1 + 1e-6)
    logits = tiny_head().eval()([torch.randn(2, 12, 6, 10)])
    assert logits.shape == (2, 5, 6, 10)


def test_reconstruction_and_exact_momentum_update():
    torch.manual_seed(0)
    module = EMAModule(C, K, T, MOMENTUM).train()
    old = module.bases.clone()
    feats = torch.randn(3, C, 6, 5)
    final, recon_ref = reference_em(feats, old, T)
    recon = module(feats)
    torch.testing.assert_close(recon.double(), recon_ref, atol=1e-5,
                               rtol=1e-5)
    torch.testing.assert_close(module.bases.double(),
                               expected_bases(old, final), atol=1e-6,
                               rtol=1e-6)


def test_eval_leaves_bases_unchanged():
    torch.manual_seed(0)
    head = tiny_head().eval()
    before = head.ema_module.bases.clone()
    head([torch.randn(2, 12, 6, 10)])
    assert torch.equal(head.ema_module.bases, before)
    head.train()
    head([torch.randn(2, 12, 6, 10)])
    assert not torch.equal(head.ema_module.bases, before)


def test_no_gradient_through_em():
    torch.manual_seed(0)
    module = EMAModule(C, K, T, MOMENTUM)
    feats = torch.randn(2, C, 4, 4, requires_grad=True)
    recon = module(feats)
    assert not recon.requires_grad and recon.grad_fn is None
    assert not module.bases.requires_grad

    head = tiny_head().train()
    frozen = {n for n, p in head.named_parameters() if not p.requires_grad}
    assert frozen == {'ema_mid_conv.conv.weight', 'ema_mid_conv.conv.bias'}
    x = torch.randn(2, 12, 6, 10, requires_grad=True)
    head([x]).sum().backward()
    # gradients reach the input and ema_in_conv via the identity path only
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert head.ema_in_conv.conv.weight.grad.abs().sum() > 0
    assert head.ema_out_conv.conv.weight.grad.abs().sum() > 0
    assert head.ema_mid_conv.conv.weight.grad is None


def test_em_runs_in_float32_under_bf16_autocast(monkeypatch):
    torch.manual_seed(0)
    head = tiny_head().train()
    seen = []
    einsum = torch.einsum

    def spy(equation, *operands):
        seen.append(tuple(op.dtype for op in operands))
        return einsum(equation, *operands)

    monkeypatch.setattr(torch, 'einsum', spy)
    x = torch.randn(2, 12, 6, 10) * 50  # large activations
    with torch.autocast('cpu', dtype=torch.bfloat16):
        logits = head([x])
    assert seen and all(d == torch.float32 for ops in seen for d in ops)
    assert len(seen) == 2 * T + 1
    assert logits.dtype == torch.bfloat16
    assert torch.isfinite(logits.float()).all()
    assert head.ema_module.bases.dtype == torch.float32
    assert torch.isfinite(head.ema_module.bases).all()



def _rank_feats(rank: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(100 + rank)
    return torch.randn(2, C, 5, 6, generator=g)  # [B, C, H, W]


def _ddp_worker(rank: int, out_dir: str) -> None:
    torch.manual_seed(0)  # same initial bases on both ranks
    module = EMAModule(C, K, T, MOMENTUM).train()
    initial = module.bases.clone()
    module(_rank_feats(rank))
    torch.save(dict(initial=initial, bases=module.bases.clone()),
               os.path.join(out_dir, f'rank{rank}.pth'))


@pytest.mark.slow
def test_bases_all_reduced_across_two_gloo_processes(tmp_path):
    run_two_gloo_processes(_ddp_worker, str(tmp_path))
    r0 = torch.load(tmp_path / 'rank0.pth')
    r1 = torch.load(tmp_path / 'rank1.pth')
    assert torch.equal(r0['initial'], r1['initial'])
    assert torch.equal(r0['bases'], r1['bases'])
    # expected: momentum step toward normalize(mean over ranks of the
    # per-rank batch means of the final bases)
    old = r0['initial']
    means = [reference_em(_rank_feats(r), old, T)[0].mean(0, keepdim=True)
             for r in range(2)]  # [1, C, K] each
    target = (means[0] + means[1]) / 2
    target = target / target.norm(dim=1, keepdim=True)
    expected = (1 - MOMENTUM) * old.double() + MOMENTUM * target
    torch.testing.assert_close(r0['bases'].double(), expected, atol=1e-6,
                               rtol=1e-6)
    # differs from what either rank would reach on its own
    own = expected_bases(old, reference_em(_rank_feats(0), old, T)[0])
    assert (own - expected).abs().max() > 1e-4

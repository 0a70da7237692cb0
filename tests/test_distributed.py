"""Tests for multi-device training (DDP on CPU) and the cost of a step: host syncs, EMA ops, BYOL's tau."""
import copy
import math

import pytest
import torch
from torch import distributed as dist

from course_lib import distributed, syncs
from course_lib.vision import byol, encoders, methods, moco, simclr


def _identity(x, generator=None):
    return x


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed with gloo")
def test_two_ranks_with_half_the_batch_match_one_process_with_all():
    # 2 CPU processes (gloo, loopback) vs one process: losses, gradients and final states of 2 SGD steps.
    assert distributed.ddp_max_abs_diff(("simclr", "moco", "byol", "simsiam")) < 1e-4


def test_without_torchrun_everything_is_the_identity():
    assert not distributed.is_initialized()
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    x = torch.randn(6, 4, requires_grad=True)
    assert distributed.all_gather(x) is x and distributed.shard(x) is x
    model = methods.build("simclr", encoders.make_encoder("convnet", width=4))
    assert distributed.ddp(model) is model and distributed.unwrap(model) is model
    assert all(not isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())


def test_simclr_losses_keep_their_values():
    # The masked sums replace boolean indexing; the values must be those of s[neg] (written out here).
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    s = simclr.similarities(z1, z2).float()
    n2 = len(s)
    pos = torch.cat([torch.arange(5, 10), torch.arange(0, 5)])
    neg = torch.ones(n2, n2, dtype=torch.bool)
    neg[torch.arange(n2), pos] = False
    neg.fill_diagonal_(False)
    tau = 0.3
    logistic = -(torch.nn.functional.logsigmoid(s[torch.arange(n2), pos] / tau)
                 + torch.nn.functional.logsigmoid(-s[neg].view(n2, -1) / tau).mean(1)).mean()
    margin = (s - s[torch.arange(n2), pos][:, None] + 0.5).clamp_min(0)[neg].mean()
    assert simclr.nt_logistic(z1, z2, tau).item() == pytest.approx(logistic.item(), rel=1e-6)
    assert simclr.margin_triplet(z1, z2).item() == pytest.approx(margin.item(), rel=1e-6)


@pytest.mark.parametrize("name, options", [("simclr", {"loss": "nt_xent"}), ("simclr", {"loss": "nt_logistic"}),
                                           ("simclr", {"loss": "margin"}), ("moco", {"queue_size": 16}),
                                           ("byol", {}), ("simsiam", {})])
def test_a_training_step_never_waits_for_the_device(name, options):
    # Augmentations are counted in the augmentation tests; here: loss, backward, AdamW, momentum update.
    model = methods.build(name, encoders.make_encoder("convnet", width=8), augment_fn=_identity, **options)
    report = syncs.count_syncs(model, torch.rand(8, 3, 32, 32))
    assert report.complete and report.count == 0, report.ops


def test_momentum_update_is_a_few_foreach_ops_with_the_loops_result():
    torch.manual_seed(0)
    online = encoders.make_encoder("convnet", width=4)
    online.train()(torch.rand(4, 3, 16, 16))  # move the BatchNorm statistics away from their start
    target = copy.deepcopy(online)
    with torch.no_grad():
        for p in target.parameters():
            p.add_(torch.randn_like(p))
    want = copy.deepcopy(target)
    with torch.no_grad():  # the loop the foreach ops replace
        for p_t, p_o in zip(want.parameters(), online.parameters()):
            p_t.mul_(0.99).add_(p_o, alpha=1 - 0.99)
        for b_t, b_o in zip(want.buffers(), online.buffers()):
            b_t.copy_(b_o)
    assert syncs.count_dispatched(moco.momentum_update, online, target, 0.99) <= 3
    for (key, got), expected in zip(target.state_dict().items(), want.state_dict().values()):
        assert torch.equal(got, expected), key
    with pytest.raises(ValueError, match="momentum"):
        moco.momentum_update(online, target, -0.1)


def test_byol_tau_starts_at_base_and_stays_below_one_during_training():
    # fit's on_step passes step = steps done (1..K); the update after step k + 1 uses tau(k), k = 0..K-1.
    torch.manual_seed(0)
    model = methods.build("byol", encoders.make_encoder("convnet", width=4), tau_base=0.9, augment_fn=_identity)
    taus: list[float] = []
    methods.train(model, torch.rand(16, 3, 16, 16), epochs=2, batch_size=8, lr=1e-3, progress=False,
                  callback=lambda m, step, total: taus.append(m.tau))
    assert taus == pytest.approx([byol.ema_momentum(k, 4, 0.9) for k in range(4)])
    assert taus[0] == pytest.approx(0.9) and taus[-1] < 1.0
    assert taus[-1] == pytest.approx(1 - 0.1 * (math.cos(math.pi * 3 / 4) + 1) / 2)

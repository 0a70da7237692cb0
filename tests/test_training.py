"""Tests for course_lib.training: the loop learns, respects its time budget, resumes, and fails loudly."""
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from course_lib import training


def _blobs(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two linearly separable Gaussian blobs in 2-D."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 2, generator=g) + 3.0 * (2 * y[:, None] - 1)
    return x, y


def _ce(model: nn.Module, batch: tuple) -> torch.Tensor:
    x, y = batch
    return F.cross_entropy(model(x), y)


def test_loader_is_seeded_and_keeps_pairs_together():
    x = torch.arange(10.0)
    order = lambda seed: torch.cat([b[0] for b in training.loader(x, x * 2, batch_size=4, seed=seed)])
    assert torch.equal(order(1), order(1)) and not torch.equal(order(1), order(2))
    for a, b in training.loader(x, x * 2, batch_size=4):
        assert torch.equal(b, a * 2)
    with pytest.raises(ValueError, match="same first dimension"):
        training.loader(x, x[:5], batch_size=4)


def test_fit_decreases_loss():
    torch.manual_seed(0)
    x, y = _blobs()
    model = nn.Linear(2, 2)
    h = training.fit(model, _ce, training.loader(x, y, batch_size=32), epochs=5, lr=0.05, progress=False)
    assert h.epochs_done == 5 and len(h.epoch_losses) == 5 and len(h.losses) == 5 * 8
    assert h.epoch_losses[-1] < 0.5 * h.epoch_losses[0]
    assert (model(x).argmax(1) == y).float().mean() > 0.95
    assert not h.stopped_by_budget and h.seconds > 0


def test_time_budget_stops_early():
    x, y = _blobs()
    h = training.fit(nn.Linear(2, 2), _ce, training.loader(x, y, batch_size=32), epochs=10_000,
                     time_budget_s=0.3, progress=False)
    assert h.stopped_by_budget
    assert h.epochs_done < 10_000 and h.seconds < 3.0


def test_a_cut_is_printed(capsys):
    x, y = _blobs()
    h = training.fit(nn.Linear(2, 2), _ce, training.loader(x, y, batch_size=32), epochs=10_000,
                     time_budget_s=0.2, progress=False, desc="probe")
    out = capsys.readouterr().out
    assert "probe: time budget of 0.2 s reached" in out and f"after {h.epochs_done} of 10000 epochs" in out
    training.fit(nn.Linear(2, 2), _ce, training.loader(x, y, batch_size=32), epochs=1,
                 time_budget_s=1e6, progress=False)
    assert capsys.readouterr().out == ""  # a run the budget did not cut prints nothing


def test_unreached_budget_gives_bit_identical_weights():
    """The ci rule: with the budget only a safety net, the same seed trains the very same weights."""
    from course_lib.vision.encoders import ConvEncoder
    from course_lib.vision.pretext import RotationNet, rotate_batch

    x = torch.rand(96, 3, 16, 16, generator=torch.Generator().manual_seed(1))

    def rotation_loss(model, batch):
        x_rot, y_rot = rotate_batch(batch[0])
        return F.cross_entropy(model(x_rot), y_rot)

    def train_once() -> dict:
        torch.manual_seed(0)
        net = RotationNet(ConvEncoder(width=4))
        h = training.fit(net, rotation_loss, training.loader(x, batch_size=32, seed=0), epochs=2,
                         time_budget_s=1e6, progress=False, device="cpu")
        assert h.epochs_done == 2 and not h.stopped_by_budget
        return net.state_dict()

    a, b = train_once(), train_once()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs between two runs with the same seed"
    assert not torch.equal(a["head.weight"], RotationNet(ConvEncoder(width=4)).state_dict()["head.weight"])


def test_checkpoint_resumes_where_it_stopped(tmp_path):
    x, y = _blobs()
    ckpt = tmp_path / "run.pt"
    torch.manual_seed(0)
    first = training.fit(nn.Linear(2, 2), _ce, training.loader(x, y, batch_size=32), epochs=1,
                         checkpoint=ckpt, progress=False)
    assert first.epochs_done == 1 and ckpt.exists()
    saved = torch.load(ckpt, weights_only=False)["model"]

    # A "new kernel": a fresh model picks up the saved weights and runs only epochs 2 and 3.
    model = nn.Linear(2, 2)
    seen = []
    def loss_fn(m, batch):
        if not seen:
            seen.append({k: v.clone() for k, v in m.state_dict().items()})
        return _ce(m, batch)
    h = training.fit(model, loss_fn, training.loader(x, y, batch_size=32), epochs=3,
                     checkpoint=ckpt, progress=False)
    assert all(torch.equal(seen[0][k], saved[k]) for k in saved)
    assert h.epochs_done == 3 and len(h.epoch_losses) == 3 and len(h.losses) == 3 * 8
    assert h.losses[:8] == first.losses


def test_corrupt_checkpoint_gives_clear_error(tmp_path):
    ckpt = tmp_path / "broken.pt"
    ckpt.write_bytes(b"not a checkpoint")
    x, y = _blobs()
    with pytest.raises(RuntimeError, match="delete it"):
        training.fit(nn.Linear(2, 2), _ce, training.loader(x, y, batch_size=32), epochs=1,
                     checkpoint=ckpt, progress=False)


def test_nan_loss_raises_with_step():
    x, y = _blobs()
    def loss_fn(m, batch):
        return _ce(m, batch) * math.nan
    with pytest.raises(FloatingPointError, match="step 0.*lower learning rate"):
        training.fit(nn.Linear(2, 2), loss_fn, training.loader(x, y, batch_size=32), epochs=1,
                     progress=False)


def test_precision_follows_the_compute_capability(monkeypatch) -> None:
    """bf16 from capability 8 (A100, H100), fp16 + GradScaler below (T4 is 7.5: bf16 only emulated), none on CPU."""
    from course_lib import training

    assert training.amp_dtype(torch.device("cpu")) is None
    for capability, dtype in [((7, 5), torch.float16), ((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16)]:
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None, c=capability: c)
        assert training.amp_dtype(torch.device("cuda")) == dtype

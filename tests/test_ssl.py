"""Tests for the self-supervised methods: losses against independent formulations, bad inputs, registry."""
import math

import pytest
import torch
from torch.nn import functional as F

from course_lib import training
from course_lib.vision import augment, byol, encoders, methods, moco, simclr, simsiam


def _views(n: int = 6, d: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


def test_nt_xent_matches_per_anchor_cross_entropy():
    z1, z2 = _views()
    tau = 0.3
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n2 = len(z)
    losses = []
    for i in range(n2):  # the paper's l(i, j) written out, one anchor at a time
        j = (i + n2 // 2) % n2
        denom = sum(math.exp(float(z[i] @ z[k]) / tau) for k in range(n2) if k != i)
        losses.append(-math.log(math.exp(float(z[i] @ z[j]) / tau) / denom))
    assert simclr.nt_xent(z1, z2, tau).item() == pytest.approx(sum(losses) / n2, rel=1e-5)


def test_nt_xent_symmetry_scale_and_perfect_views():
    z1, z2 = _views()
    assert simclr.nt_xent(z1, z2).item() == pytest.approx(simclr.nt_xent(z2, z1).item(), rel=1e-6)
    assert simclr.nt_xent(3 * z1, 0.1 * z2).item() == pytest.approx(simclr.nt_xent(z1, z2).item(), rel=1e-5)
    eye = torch.eye(4)  # identical views, orthogonal images: low loss, far below the random-view loss
    assert simclr.nt_xent(eye, eye, 0.1).item() < 0.01 < simclr.nt_xent(*_views(4, 4), 0.1).item()


def test_other_losses_prefer_aligned_views():
    z1, _ = _views()
    shuffled = z1[torch.tensor([1, 2, 3, 4, 5, 0])]
    for name, fn in simclr.LOSSES.items():
        assert fn(z1, z1).item() < fn(z1, shuffled).item(), name


def test_info_nce_matches_explicit_loop():
    g = torch.Generator().manual_seed(1)
    q, k = F.normalize(torch.randn(4, 3, generator=g), dim=1), F.normalize(torch.randn(4, 3, generator=g), dim=1)
    queue = F.normalize(torch.randn(8, 3, generator=g), dim=1)
    tau = 0.2
    total = 0.0
    for i in range(len(q)):
        pos = math.exp(float(q[i] @ k[i]) / tau)
        neg = sum(math.exp(float(q[i] @ key) / tau) for key in queue)
        total += -math.log(pos / (pos + neg))
    assert moco.info_nce(q, k, queue, tau).item() == pytest.approx(total / len(q), rel=1e-5)


def test_queue_is_fifo_and_rejects_bad_sizes():
    queue = moco.Queue(6, 2)
    for i in range(4):  # 4 batches of 2 keys wrap around a queue of 6
        queue.push(torch.full((2, 2), float(i)))
    assert queue.keys[:, 0].tolist() == [3, 3, 1, 1, 2, 2] and int(queue.ptr) == 2
    with pytest.raises(ValueError, match="not a multiple of the batch size"):
        queue.push(torch.zeros(4, 2))


def test_momentum_update_moves_target_towards_online():
    online, target = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = target.weight.detach().clone()
    moco.momentum_update(online, target, 0.9)
    assert torch.allclose(target.weight, 0.9 * before + 0.1 * online.weight)
    with pytest.raises(ValueError, match="momentum"):
        moco.momentum_update(online, target, 1.5)


def test_byol_schedule_and_no_gradient_to_target():
    assert byol.ema_momentum(0, 100, 0.99) == pytest.approx(0.99)
    assert byol.ema_momentum(100, 100, 0.99) == pytest.approx(1.0)
    torch.manual_seed(0)
    model = methods.build("byol", encoders.ConvEncoder(width=4))
    model.loss(torch.rand(4, 3, 16, 16)).backward()
    assert all(p.grad is None for p in model.target_encoder.parameters())
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_simsiam_stop_gradient_changes_gradients():
    p, z = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4, requires_grad=True)
    simsiam.neg_cosine(p, z).backward()
    assert z.grad is None and p.grad is not None
    simsiam.neg_cosine(p, z, stop_gradient=False).backward()
    assert z.grad is not None


@pytest.mark.parametrize("fn", [simclr.nt_xent, simclr.nt_logistic])
def test_bad_inputs_give_clear_errors(fn):
    z1, z2 = _views()
    with pytest.raises(ValueError, match="at least 2 images"):
        fn(z1[:1], z2[:1])
    with pytest.raises(ValueError, match="same shape"):
        fn(z1, z2[:4])
    with pytest.raises(ValueError, match="temperature"):
        fn(z1, z2, 0.0)
    with pytest.raises(ValueError, match="temperature"):
        moco.info_nce(z1, z2, torch.randn(4, 5), tau=0)
    with pytest.raises(ValueError, match="positive"):
        simclr.SimCLR(encoders.ConvEncoder(width=4), tau=0)


def test_models_reject_a_batch_of_one_and_the_registry_unknown_names():
    for name in ("simclr", "moco", "byol", "simsiam"):
        model = methods.build(name, encoders.ConvEncoder(width=4))
        with pytest.raises(ValueError, match="at least 2 images"):
            model.loss(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="unknown method"):
        methods.build("swav", encoders.ConvEncoder(width=4))
    with pytest.raises(TypeError, match="needs their size"):
        methods.build("jigsaw", encoders.ConvEncoder(width=4))
    with pytest.raises(ValueError, match="at least 16 pixels"):
        methods.build("relative_position", encoders.ConvEncoder(width=4), image_size=12)


def test_moco_queue_not_multiple_of_batch_is_an_error():
    model = methods.build("moco", encoders.ConvEncoder(width=4), queue_size=10, proj_dim=8)
    with pytest.raises(ValueError, match="not a multiple"):
        model.loss(torch.rand(4, 3, 16, 16))


@pytest.mark.parametrize("name", list(methods.METHODS))
def test_every_method_trains_through_the_registry(name):
    torch.manual_seed(0)
    x = torch.rand(16, 3, 16, 16)
    model = methods.build(name, encoders.ConvEncoder(width=4), image_size=16,
                          **({"queue_size": 16} if name == "moco" else {}))
    target_before = [p.clone() for p in model.parameters() if not p.requires_grad]
    h = methods.train(model, x, epochs=2, batch_size=8, lr=1e-3, progress=False)
    assert len(h.losses) == 4 and all(math.isfinite(v) for v in h.losses)
    after = [p for p in model.parameters() if not p.requires_grad]
    # MoCo's and BYOL's targets move only through the momentum hook.
    assert all(not torch.equal(a, b) for a, b in zip(after, target_before))


def test_augmentations_are_seeded_per_image_and_keep_shape():
    x = torch.rand(8, 3, 16, 16)
    for name, op in augment.OPS.items():
        a = op(x, torch.Generator().manual_seed(0))
        b = op(x, torch.Generator().manual_seed(0))
        assert a.shape == x.shape and torch.equal(a, b), name
        assert 0 <= a.min() and a.max() <= 1, name
    views = augment.simclr_augment()(x.expand(8, -1, -1, -1).clone() * 0 + x[:1])  # one image, 8 draws
    assert len({round(float(v.sum()), 3) for v in views}) > 4  # different parameters per image
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment.Compose(["crop", "solarize"])
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        augment.color_jitter(torch.rand(3, 16, 16))


def test_rotation_by_any_angle_keeps_a_flat_image_and_turns_a_ramp():
    flat = torch.full((4, 3, 16, 16), 0.3)
    out = augment.random_rotation(flat, torch.Generator().manual_seed(0), angles="any")
    assert out.shape == flat.shape and torch.allclose(out, flat, atol=1e-6)  # corners filled from the border
    ramp = torch.linspace(0, 1, 16).expand(64, 3, 16, 16).contiguous()       # brighter to the right
    turned = augment.random_rotation(ramp, torch.Generator().manual_seed(1), angles="any")
    slope = turned[:, 0, 8, 12] - turned[:, 0, 8, 3]                        # left-right difference per image
    assert slope.min() < -0.3 and slope.max() > 0.3 and len({round(v, 2) for v in slope.tolist()}) > 20
    pipeline = augment.simclr_augment(rotate=True, rotation="any")
    assert pipeline.settings["rotation"] == "any" and pipeline(ramp[:4]).shape == (4, 3, 16, 16)
    with pytest.raises(ValueError, match="angles"):
        augment.random_rotation(flat, angles="eighth")
    with pytest.raises(ValueError, match="rotation"):
        augment.simclr_augment(rotation="eighth")


def test_grayscale_and_flip_do_what_they_say():
    x = torch.rand(4, 3, 8, 8)
    grey = augment.random_grayscale(x, p=1.0)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    assert torch.equal(augment.horizontal_flip(x, p=1.0), x.flip(3))
    full = augment.random_resized_crop(x, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert torch.allclose(full, x, atol=1e-5)  # a crop of the whole image is the image


def test_warmup_cosine_and_device_loader():
    f = [training.warmup_cosine(s, 10, 2) for s in range(10)]
    assert f[0] == 0.5 and f[1] == 1.0 and f[2] == 1.0 and f[-1] < 0.05
    assert all(a >= b for a, b in zip(f[1:], f[2:]))
    x = torch.arange(10.0)
    batches = training.DeviceLoader(x, x * 2, batch_size=4, drop_last=True, seed=3)
    got = [b for b in batches]
    assert len(batches) == 2 and len(got) == 2 and all(torch.equal(b, a * 2) for a, b in got)
    assert [a.tolist() for a, _ in got] == [a.tolist() for a, _ in training.DeviceLoader(
        x, x * 2, batch_size=4, drop_last=True, seed=3)]
    with pytest.raises(ValueError, match="no batch"):
        training.DeviceLoader(x, batch_size=20, drop_last=True)


def test_fit_calls_hook_and_applies_schedule():
    calls = []
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    lrs = []

    def hook(m, step, total):
        calls.append((step, total))
        lrs.append(opt.param_groups[0]["lr"])

    x = torch.randn(8, 2)
    training.fit(model, lambda m, b: m(b[0]).pow(2).mean(), training.DeviceLoader(x, batch_size=4),
                 epochs=2, optimizer=opt, on_step=hook, schedule="cosine", warmup_steps=2, progress=False)
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert lrs == [0.5, 1.0, 1.0, 0.5]  # warmup over 2 steps, then cosine from 1 towards 0
    with pytest.raises(ValueError, match="schedule"):
        training.fit(model, lambda m, b: m(b[0]).sum(), training.DeviceLoader(x, batch_size=4), epochs=1,
                     schedule="step", progress=False)


def test_contrastive_checks_pass_the_library_and_fail_wrong_answers(capsys):
    from _tools import own_copy
    from course_lib import checks

    checks.nt_xent(own_copy(simclr.nt_xent))
    checks.momentum_update(own_copy(moco.momentum_update))
    checks.byol_loss(own_copy(byol.byol_loss))
    with pytest.raises(AssertionError, match="write this yourself"):
        checks.byol_loss(byol.byol_loss)   # the library's own version is refused (issue 17)
    with pytest.raises(AssertionError, match="no gradient reaches the target"):
        checks.byol_loss(lambda p, z: (2 - 2 * F.cosine_similarity(p, z)).mean())  # forgot the stop-gradient
    with pytest.raises(AssertionError, match="symmetric|orthogonal|SimCLR"):
        checks.nt_xent(lambda a, b, tau: F.cross_entropy(F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / tau,
                                                         torch.arange(len(a))))  # one direction only, no intra-view negatives

    def enqueue_lifo(queue, ptr, keys):  # writes at the front every time: not first-in first-out
        queue[:len(keys)] = keys.detach()
        return 0

    with pytest.raises(AssertionError, match="first in, first out"):
        checks.enqueue(enqueue_lifo)


def test_label_subset_finetune_and_collapse_stats():
    from course_lib import evaluation

    y = torch.arange(10).repeat(20)  # 200 labels, 20 per class
    idx = evaluation.label_subset(y, 0.1, seed=0)
    assert len(idx) == 20 and torch.bincount(y[idx]).tolist() == [2] * 10
    assert len(evaluation.label_subset(y, 0.01)) == 10  # at least one per class
    with pytest.raises(ValueError, match="fraction"):
        evaluation.label_subset(y, 0.0)
    healthy = evaluation.embedding_stats(torch.randn(500, 16))
    collapsed = evaluation.embedding_stats(torch.ones(500, 16) + 1e-4 * torch.randn(500, 16))
    assert abs(healthy["std"] - healthy["ideal_std"]) < 0.05 and collapsed["std"] < 1e-3
    assert healthy["effective_rank"] > 12 > collapsed["effective_rank"] or collapsed["std"] < 1e-3
    torch.manual_seed(0)
    x = torch.rand(40, 3, 8, 8)
    y2 = (x[:, 0].mean((1, 2)) > x[:, 2].mean((1, 2))).long()  # red vs blue: learnable
    acc = evaluation.finetune(encoders.ConvEncoder(width=4), x, y2, x, y2, epochs=30, lr=1e-2, batch_size=8)
    assert acc > 0.8


def test_queue_pointer_survives_a_state_dict_round_trip():
    queue = moco.Queue(6, 2)
    queue.push(torch.ones(2, 2))
    other = moco.Queue(6, 2, seed=1)
    other.load_state_dict(queue.state_dict())
    assert other.ptr == 2 and torch.equal(other.keys, queue.keys)


def test_build_for_reads_the_profile():
    import course_lib

    run = course_lib.setup("09_evaluation", profile="ci", quiet=True)
    moco_model = methods.build_for(run, "moco")
    assert len(moco_model.queue.keys) == run.moco_queue
    assert methods.build_for(run, "simclr").tau == run.tau
    jig = methods.build_for(run, "jigsaw")
    assert jig.patch == methods.grid_geometry(run.image_size)["patch"]
    assert methods.build_for(run, "jigsaw", image_size=48).patch == 12  # the data's size wins over the row's
    # rotate_views adds a quarter turn: a square image with one bright corner moves its corner.
    x = torch.zeros(64, 3, 8, 8)
    x[:, :, :2, :2] = 1.0
    turned = methods.augment_for(run, colour=False, blur=False, scale=(1.0, 1.0))(x, torch.Generator().manual_seed(0))
    plain = methods.augment_for(run, colour=False, blur=False, scale=(1.0, 1.0), rotate=False)(x, torch.Generator().manual_seed(0))

    def corners(views: torch.Tensor) -> set[tuple[int, int]]:  # the quadrant that holds the bright corner
        rows_cols = [divmod(int(v[0].reshape(-1).argmax()), 8) for v in views]
        return {(r // 4, c // 4) for r, c in rows_cols}
    assert run.rotate_views
    assert len(corners(plain)) <= 2 and len(corners(turned)) == 4  # a flip reaches 2 corners, quarter turns all 4

"""The one evaluation API of the course: embed images, then score the features with a linear probe or kNN."""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import runtime


def _features(z, name: str, device: torch.device | None = None) -> torch.Tensor:
    """Check that z is a 2-D array of features and return it as a float32 tensor on device (default: CPU)."""
    z = torch.as_tensor(z).detach().to(device or "cpu")
    if z.dim() != 2:
        raise ValueError(f"{name} must have shape (N, D), got {tuple(z.shape)}; "
                         "flatten the features first, e.g. z.flatten(1)")
    if not z.is_floating_point():
        z = z.float()
    if not torch.isfinite(z).all():
        raise ValueError(f"{name} contains NaN or inf; the encoder that produced it has diverged")
    return z.float()


def _labels(y, n: int, name: str, device: torch.device | None = None) -> torch.Tensor:
    """Check that y is a 1-D integer label vector of length n and return it as a long tensor on device."""
    y = torch.as_tensor(y).detach().to(device or "cpu")
    if y.dim() != 1 or len(y) != n:
        raise ValueError(f"{name} must have shape ({n},) to match its features, got {tuple(y.shape)}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer class indices, got dtype {y.dtype}; "
                        "use y.long() if the values are whole numbers")
    if n and y.min() < 0:
        raise ValueError(f"{name} has negative labels; class indices must be 0, 1, 2, ...")
    return y.long()


def _check_pair(z_train, y_train, z_test, y_test, device: torch.device | None = None) -> tuple[torch.Tensor, ...]:
    """Validate a train/test split of features and labels; return them as tensors on device."""
    z_train, z_test = _features(z_train, "z_train", device), _features(z_test, "z_test", device)
    if z_train.shape[1] != z_test.shape[1]:
        raise ValueError(f"z_train has {z_train.shape[1]} features but z_test has {z_test.shape[1]}; "
                         "embed both with the same encoder")
    if len(z_train) == 0 or len(z_test) == 0:
        raise ValueError("z_train and z_test must both hold at least one example")
    y_train = _labels(y_train, len(z_train), "y_train", device)
    y_test = _labels(y_test, len(z_test), "y_test", device)
    return z_train, y_train, z_test, y_test


@torch.no_grad()
def embed(encoder: nn.Module, x: torch.Tensor, *, batch_size: int = 512,
          device: torch.device | str | None = None) -> torch.Tensor:
    """Encode x in batches with the encoder in eval mode; return the features as a CPU tensor (N, D).

    Runs on the run's device (runtime.resolve_device); the encoder is moved there, in place.
    """
    device = runtime.resolve_device(device, encoder)
    encoder.to(device)
    x = torch.as_tensor(x)
    was_training = encoder.training
    encoder.eval()  # BatchNorm uses its running statistics, dropout is off
    try:
        chunks = [encoder(x[i:i + batch_size].to(device)).float().cpu()
                  for i in range(0, len(x), batch_size)]
    finally:
        encoder.train(was_training)
    if not chunks:
        raise ValueError("embed() got an empty input; pass at least one example")
    z = torch.cat(chunks)  # (N, D)
    if z.dim() != 2:
        raise ValueError(f"the encoder returned features of shape {tuple(z.shape[1:])} per example; "
                         "embed() expects one vector per example (add a pooling + flatten)")
    return z


def _fit_probe(z_train: torch.Tensor, y_train: torch.Tensor, n_classes: int, *, epochs: int, lr: float,
               weight_decay: float, seed: int, device: torch.device) -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    """Logistic regression on standardised features (full-batch L-BFGS): return (probe, mean, std), the
    probe acting on (z - mean) / std."""
    # Standardise with the training statistics only, so the test set never leaks into the probe.
    mean, std = z_train.mean(0), z_train.std(0, unbiased=False).clamp_min(1e-6)
    z_train = (z_train - mean) / std  # (N, D)
    generator = torch.Generator().manual_seed(seed)
    probe = nn.Linear(z_train.shape[1], n_classes)
    with torch.no_grad():  # small random start: the seed then fully fixes the result
        probe.weight.normal_(0.0, 0.01, generator=generator)
        probe.bias.zero_()
    probe.to(device)  # initialised on the CPU: the same start on every device
    # Full-batch L-BFGS: deterministic, no batch size or schedule to tune, converges in ~100 steps.
    opt = torch.optim.LBFGS(probe.parameters(), lr=lr, max_iter=epochs, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(probe(z_train), y_train) + weight_decay / 2 * probe.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return probe, mean, std


def linear_probe(z_train, y_train, z_test, y_test, *, epochs: int = 100, lr: float = 1.0,
                 weight_decay: float = 1e-4, seed: int = 0, device: torch.device | str | None = None) -> float:
    """Fit multinomial logistic regression on frozen features (full-batch L-BFGS) on the run's device; return test accuracy."""
    device = runtime.resolve_device(device)
    z_train, y_train, z_test, y_test = _check_pair(z_train, y_train, z_test, y_test, device)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    probe, mean, std = _fit_probe(z_train, y_train, n_classes, epochs=epochs, lr=lr, weight_decay=weight_decay,
                                  seed=seed, device=device)
    with torch.no_grad():
        pred = probe((z_test - mean) / std).argmax(1)  # (N_test,)
    return (pred == y_test).float().mean().item()


@torch.no_grad()
def nearest_neighbours(z_bank, z_query, *, k: int = 8, batch_size: int = 1024,
                       device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The k most cosine-similar rows of z_bank (N, D) for each row of z_query (Q, D), on the run's device.

    Returns (similarities, indices), both (Q, k) CPU tensors, nearest first. knn() votes with these;
    neighbour_agreement() and plotting.show_retrieval() show them.
    """
    device = runtime.resolve_device(device)
    z_bank, z_query = _features(z_bank, "z_bank", device), _features(z_query, "z_query", device)
    if z_bank.shape[1] != z_query.shape[1]:
        raise ValueError(f"z_bank has {z_bank.shape[1]} features but z_query has {z_query.shape[1]}; "
                         "embed both with the same encoder")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    k = min(k, len(z_bank))
    z_bank, z_query = F.normalize(z_bank, dim=1), F.normalize(z_query, dim=1)
    sims, idx = [], []
    # Batches of queries keep the similarity matrix at batch_size x N, not Q x N.
    for i in range(0, len(z_query), batch_size):
        top_sim, top_idx = (z_query[i:i + batch_size] @ z_bank.T).topk(k, dim=1)   # (b, k) each
        sims.append(top_sim.cpu())
        idx.append(top_idx.cpu())
    return torch.cat(sims), torch.cat(idx)


@torch.no_grad()
def knn(z_train, y_train, z_test, y_test, *, k: int = 20, temperature: float = 0.07,
        batch_size: int = 1024, device: torch.device | str | None = None) -> float:
    """Cosine-similarity kNN on L2-normalised features with a similarity-weighted vote (weight
    exp(s / temperature)), as Wu et al. 2018 and solo-learn; on the run's device; return accuracy."""
    device = runtime.resolve_device(device)
    z_train, y_train, z_test, y_test = _check_pair(z_train, y_train, z_test, y_test, device)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    top_sim, top_idx = nearest_neighbours(z_train, z_test, k=k, batch_size=batch_size, device=device)  # (N_test, k)
    weights = (top_sim / temperature).exp()                   # closer neighbours count more (Wu et al. 2018)
    votes = torch.zeros(len(z_test), n_classes)
    votes.scatter_add_(1, y_train.cpu()[top_idx], weights)    # (N_test, n_classes)
    return (votes.argmax(1) == y_test.cpu()).sum().item() / len(z_test)


@torch.no_grad()
def neighbour_agreement(z_train, y_train, z_test, y_test, *, k: int = 8,
                        device: torch.device | str | None = None) -> float:
    """Fraction of the k cosine-nearest training neighbours of a test point that share its label,
    averaged over the test points (chance: the label's frequency, 10% for 10 balanced classes)."""
    z_train, y_train, z_test, y_test = _check_pair(z_train, y_train, z_test, y_test)
    _, idx = nearest_neighbours(z_train, z_test, k=k, device=device)   # (N_test, k)
    return (y_train[idx] == y_test[:, None]).sum().item() / idx.numel()


def tsne(z, *, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """Project features (N, D) to 2-D with scikit-learn's t-SNE (PCA initialisation); return (N, 2)."""
    from sklearn.manifold import TSNE  # imported here: it is slow to import and only some cells need it

    z = _features(z, "z").numpy()
    n = len(z)
    if n < 4 or z.shape[1] < 2:
        raise ValueError(f"t-SNE needs at least 4 examples with at least 2 features, got shape {z.shape}")
    if perplexity >= n:
        # Perplexity is roughly the number of neighbours each point attends to; it must stay below N.
        new = max(1.0, (n - 1) / 3)
        warnings.warn(f"perplexity={perplexity} is not below the number of points ({n}); "
                      f"using perplexity={new:.1f} instead", stacklevel=2)
        perplexity = new
    model = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                 random_state=seed)
    return model.fit_transform(z).astype(np.float32)


def spread_verdicts(runs: dict[str, list[float]], *, unit: float = 100.0, what: str = "points") -> list[str]:
    """One line per pair of settings measured over repeats (seeds): the difference of their means and
    whether it exceeds the spread, i.e. whether the ranges [min, max] of the two sets of repeats do not
    overlap. With a few seeds, a difference inside the spread is not a finding."""
    names, lines = list(runs), []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ra, rb = torch.as_tensor(runs[a], dtype=torch.float64), torch.as_tensor(runs[b], dtype=torch.float64)
            diff = unit * (ra.mean() - rb.mean()).item()
            apart = bool(ra.min() > rb.max() or rb.min() > ra.max())
            lines.append(f"{a} vs {b}: {diff:+.1f} {what}, "
                         + ("beyond the spread (the seeds' ranges do not overlap)" if apart
                            else "within the spread (the seeds' ranges overlap)"))
    return lines


def class_examples(y, n: int) -> torch.Tensor:
    """Indices of the first example of each of the first n classes present in y (sorted by class): queries
    for a retrieval figure that shows different classes."""
    y = _labels(y, len(torch.as_tensor(y)), "y")
    classes = torch.unique(y)[:n]                                  # sorted
    return torch.stack([torch.nonzero(y == c)[0, 0] for c in classes])


def label_subset(y, fraction: float, *, seed: int = 0) -> torch.Tensor:
    """Indices of a class-balanced fraction of the labelled examples (at least one per class), sorted."""
    y = _labels(y, len(torch.as_tensor(y)), "y")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}; e.g. 0.01 for 1% of the labels")
    generator = torch.Generator().manual_seed(seed)
    picked = []
    for c in torch.unique(y):
        idx = torch.nonzero(y == c).flatten()
        k = max(1, round(fraction * len(idx)))
        picked.append(idx[torch.randperm(len(idx), generator=generator)[:k]])
    return torch.cat(picked).sort().values


def train_supervised(encoder: nn.Module, x_train, y_train, *, epochs: int, lr: float = 1e-3, batch_size: int = 64,
                     seed: int = 0, n_classes: int | None = None,
                     device: torch.device | str | None = None, encoder_lr_scale: float = 1.0,
                     probe_init: bool = False) -> nn.Sequential:
    """A copy of the encoder plus a linear head (n_classes outputs, default y_train.max() + 1) trained on
    (x_train, y_train), all weights: nn.Sequential(encoder, head). Its [0] is the trained encoder
    (notebook 09 transfers it: the supervised row of a transfer table).

    The recipe for a pretrained encoder: encoder_lr_scale < 1 trains the encoder at lr * encoder_lr_scale
    and the head at lr, and probe_init starts the head from a linear probe fitted on the frozen features
    of x_train, so that the first steps do not push a random head's gradients into pretrained weights."""
    import copy

    from . import training  # imported here: training imports nothing from evaluation, keep it that way

    x_train = torch.as_tensor(x_train)
    y_train = _labels(y_train, len(x_train), "y_train")
    device = runtime.resolve_device(device, encoder)
    torch.manual_seed(seed)
    net = nn.Sequential(copy.deepcopy(encoder), nn.Linear(encoder.dim, n_classes or int(y_train.max()) + 1)).to(device)
    if probe_init:  # the head starts as the probe: head(h) = probe((h - mean) / std)
        z = embed(net[0], x_train, device=device).to(device)  # (N, D)
        probe, mean, std = _fit_probe(z, y_train.to(device), net[1].out_features, epochs=100, lr=1.0,
                                      weight_decay=1e-4, seed=seed, device=device)
        with torch.no_grad():
            net[1].weight.copy_(probe.weight / std)
            net[1].bias.copy_(probe.bias - net[1].weight @ mean)
    optimizer = None  # fit's default: AdamW at lr on every weight
    if encoder_lr_scale != 1.0:
        optimizer = torch.optim.AdamW([{"params": net[0].parameters(), "lr": lr * encoder_lr_scale},
                                       {"params": net[1].parameters(), "lr": lr}])
    batches = training.DeviceLoader(x_train, y_train, batch_size=min(batch_size, len(x_train)), seed=seed,
                                    device=device)
    training.fit(net, lambda m, b: F.cross_entropy(m(b[0]), b[1]), batches, epochs=epochs, lr=lr,
                 optimizer=optimizer, device=device, progress=False)
    return net


def finetune(encoder: nn.Module, x_train, y_train, x_test, y_test, *, epochs: int, lr: float = 1e-3,
             batch_size: int = 64, seed: int = 0, device: torch.device | str | None = None,
             encoder_lr_scale: float = 1.0, probe_init: bool = False) -> float:
    """Train a copy of the encoder plus a linear head on (x_train, y_train), all weights; return test accuracy.

    With a randomly initialised encoder this is the supervised baseline on the same labels. A pretrained
    encoder may need a gentler recipe of its own (train_supervised's encoder_lr_scale and probe_init).
    """
    x_train, x_test = torch.as_tensor(x_train), torch.as_tensor(x_test)
    y_train, y_test = _labels(y_train, len(x_train), "y_train"), _labels(y_test, len(x_test), "y_test")
    net = train_supervised(encoder, x_train, y_train, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                           n_classes=int(max(y_train.max(), y_test.max())) + 1, device=device,
                           encoder_lr_scale=encoder_lr_scale, probe_init=probe_init)
    pred = embed(net, x_test, device=device).argmax(1)  # (N_test,) logits -> class
    return (pred == y_test).float().mean().item()


def embedding_stats(z) -> dict[str, float | torch.Tensor]:
    """Collapse diagnostics of embeddings z (N, D): the std per dimension of the L2-normalised
    vectors averaged over dimensions (about 1/sqrt(D) when healthy, 0 when collapsed; SimSiam
    section 4.1) and the normalised singular-value spectrum of the centred embeddings."""
    z = _features(z, "z")
    u = F.normalize(z, dim=1)
    std = u.std(0).mean().item()
    s = torch.linalg.svdvals(z - z.mean(0))                 # (min(N, D),) descending
    return {"std": std, "ideal_std": 1 / z.shape[1] ** 0.5, "spectrum": s / s[0].clamp_min(1e-12),
            "effective_rank": float(torch.exp(-(p := s / s.sum()).mul(p.clamp_min(1e-12).log()).sum()))}


def score_encoder(encoder: nn.Module, train, test, *, seed: int = 0, k: int = 20, probe: bool = True,
                  agreement_k: int = 8, device: torch.device | str | None = None) -> dict[str, float]:
    """kNN accuracy, neighbour agreement ("agreement": the share of each test image's agreement_k nearest
    training images that have its class) and, if probe, linear-probe accuracy of a frozen encoder on
    labelled image sets (with .x and .y)."""
    z_train = embed(encoder, train.x, device=device)
    z_test = embed(encoder, test.x, device=device)
    scores = {"knn": knn(z_train, train.y, z_test, test.y, k=k, device=device),
              "agreement": neighbour_agreement(z_train, train.y, z_test, test.y, k=agreement_k, device=device)}
    if probe:
        scores["probe"] = linear_probe(z_train, train.y, z_test, test.y, seed=seed, device=device)
    return scores

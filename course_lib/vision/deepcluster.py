"""DeepCluster (Caron, Bojanowski, Joulin & Douze, ECCV 2018): clusters of the features as labels, repeated.

Each round: embed the images, PCA-whiten and L2-normalise the features, cluster them with k-means into
k groups, and train the network (a fresh linear classifier on top) to predict each image's cluster.
Two trivial solutions threaten it (Section 3.3), each with its fix, both switches here:
- empty clusters: k-means leaves a cluster empty; the fix gives it the centroid of a random non-empty
  cluster with a small perturbation, and the two split that cluster's points (``fix_empty``);
- one huge cluster: a network that predicts the biggest cluster for every image is right most of the
  time; the fix samples the training images uniformly over the clusters (``uniform_sampling``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from .. import evaluation, runtime, training


class SobelEncoder(nn.Module):
    """The paper's input filter before the encoder: greyscale, then horizontal and vertical Sobel gradients
    (Section 4), so clusters cannot form on colour: (B, 3, H, W) -> encoder(2-channel edges)."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.net, self.dim = encoder, encoder.dim
        k = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
        self.register_buffer("kernels", torch.stack([k, k.T])[:, None], persistent=False)   # (2, 1, 3, 3)

    def edges(self, x: torch.Tensor) -> torch.Tensor:
        grey = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device)[None, :, None, None]).sum(1, keepdim=True)
        return F.conv2d(grey, self.kernels.to(x.dtype), padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.edges(x))


def pca_whiten(z: torch.Tensor, dim: int) -> torch.Tensor:
    """Centre, project on the top `dim` principal components, scale each to unit variance, L2-normalise: (N, D) -> (N, dim)."""
    z = z.float() - z.float().mean(dim=0)
    dim = min(dim, *z.shape)
    u, s, _ = torch.linalg.svd(z, full_matrices=False)
    white = u[:, :dim] * (len(z) - 1) ** 0.5   # = z V_dim / s: unit variance per component
    return F.normalize(white, dim=1)


def kmeans(z: torch.Tensor, k: int, *, iters: int = 20, fix_empty: bool = True,
           generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
    """Lloyd's k-means on z (N, D): return each point's cluster (N,) and how many empty clusters were refilled.

    Without fix_empty an empty cluster stays empty. With it, its centroid becomes a random non-empty
    cluster's centroid plus a small perturbation (and that centroid moves the other way), so the two
    split that cluster's points at the next assignment (DeepCluster, Section 3.3)."""
    if not 1 <= k <= len(z):
        raise ValueError(f"k must be between 1 and the number of points ({len(z)}), got {k}")
    centroids = z[torch.randperm(len(z), generator=generator)[:k]].clone()
    refilled = 0
    for _ in range(iters):
        assign = torch.cdist(z, centroids).argmin(dim=1)
        counts = torch.bincount(assign, minlength=k)
        if fix_empty:
            for j in torch.nonzero(counts == 0).flatten().tolist():
                donors = torch.nonzero(counts > 1).flatten()
                i = donors[torch.randint(len(donors), (1,), generator=generator)].item()
                eps = 1e-4 * torch.randn(z.shape[1], generator=generator)
                centroids[j], centroids[i] = centroids[i] + eps, centroids[i] - eps
                refilled += 1
            assign = torch.cdist(z, centroids).argmin(dim=1)
            counts = torch.bincount(assign, minlength=k)
        sums = torch.zeros_like(centroids).index_add_(0, assign, z)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None].float()
    return torch.cdist(z, centroids).argmin(dim=1), refilled


def nmi(a: torch.Tensor, b: torch.Tensor) -> float:
    """Normalised mutual information between two labelings (scikit-learn's, arithmetic normalisation)."""
    from sklearn.metrics import normalized_mutual_info_score

    return float(normalized_mutual_info_score(a.cpu().numpy(), b.cpu().numpy()))


@dataclass
class Round:
    nmi_labels: float | None   # NMI(clusters, true labels): measured, never used for training
    nmi_previous: float | None  # NMI with the previous round's clusters: how stable the clustering is
    largest_share: float        # fraction of the images in the biggest cluster
    empty_refilled: int
    loss: float


@dataclass
class DeepClusterHistory:
    rounds: list[Round] = field(default_factory=list)
    seconds: float = 0.0


def train_deepcluster(encoder: nn.Module, x: torch.Tensor, *, rounds: int, k: int, epochs_per_round: int = 1,
                      batch_size: int = 64, lr: float = 1e-3, pca_dim: int = 64, fix_empty: bool = True,
                      uniform_sampling: bool = True, y: torch.Tensor | None = None, seed: int = 0,
                      device: torch.device | str | None = None, augment=None, desc: str = "DeepCluster",
                      progress: bool = True) -> DeepClusterHistory:
    """Train `encoder` in place with DeepCluster for `rounds` rounds; return per-round figures.

    y (optional) is used only to report NMI with the true labels. augment(x) -> x, if given, is applied
    to every training batch (the paper trains with random crops and flips)."""
    device = runtime.resolve_device(device, encoder)
    g = torch.Generator().manual_seed(seed)
    history, previous = DeepClusterHistory(), None
    for r in range(rounds):
        z = evaluation.embed(encoder, x, device=device)
        assign, refilled = kmeans(pca_whiten(z, pca_dim), k, fix_empty=fix_empty, generator=g)
        counts = torch.bincount(assign, minlength=k).float()
        if uniform_sampling:   # each image drawn with probability 1 / (k * size of its cluster)
            order = torch.multinomial(1.0 / counts[assign], len(x), replacement=True, generator=g)
        else:
            order = torch.randperm(len(x), generator=g)
        head = nn.Linear(encoder.dim, k).to(device)   # a fresh classifier: the cluster ids change every round
        model = nn.Sequential(encoder, head)

        def loss_fn(m: nn.Module, batch: tuple) -> torch.Tensor:
            xb, yb = batch
            return F.cross_entropy(m(augment(xb) if augment is not None else xb), yb)

        batches = training.loader(x[order], assign[order], batch_size=batch_size, seed=seed + r, drop_last=True)
        h = training.fit(model, loss_fn, batches,
                         epochs=epochs_per_round, lr=lr, device=device, desc=f"{desc}, round {r + 1}/{rounds}",
                         progress=progress)
        history.seconds += h.seconds
        history.rounds.append(Round(nmi(assign, y) if y is not None else None,
                                    nmi(assign, previous) if previous is not None else None,
                                    counts.max().item() / len(x), refilled, h.epoch_losses[-1]))
        previous = assign
    return history

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

from .. import evaluation
from .encoders import with_in_channels


class SobelEncoder(nn.Module):
    """The paper's input filter before the encoder: greyscale, then horizontal and vertical Sobel gradients
    (Section 4), so clusters cannot form on colour: (B, 3, H, W) -> encoder(2-channel edges)."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.net, self.dim = encoder, encoder.dim
        k = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
        self.register_buffer("kernels", torch.stack([k, k.T])[:, None], persistent=False)   # (2, 1, 3, 3)
        self.register_buffer("luma", torch.tensor([0.299, 0.587, 0.114])[None, :, None, None], persistent=False)

    def edges(self, x: torch.Tensor) -> torch.Tensor:
        grey = (x * self.luma.to(x.dtype)).sum(1, keepdim=True)
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


class DeepCluster(nn.Module):
    """DeepCluster in the method protocol of `methods`: ``.encoder``, ``loss(x, index)`` and ``refresh(x, epoch)``.

    methods.train calls refresh(x, epoch) before every epoch; every `epochs_per_round` epochs it starts a
    round: embed all of x, PCA-whiten, k-means, a fresh classifier. loss(x, index) is the cross-entropy of
    the classifier's prediction for the (augmented) images x against the clusters of images `index` of x
    (per_image: methods.train hands each batch's indices over); uniform sampling over the clusters is done by
    the training loop, from ``sampling_weights``.
    sobel=True puts the paper's Sobel filter in front of the encoder (its first convolution then takes the
    2 gradient channels). `assignments` keeps every round's clusters (N,), `refilled` the empty clusters fixed.
    """

    per_image = True

    def __init__(self, encoder: nn.Module, *, k: int = 100, pca_dim: int = 64, epochs_per_round: int = 1,
                 fix_empty: bool = True, uniform_sampling: bool = True, sobel: bool = True,
                 augment_fn=None, seed: int = 0) -> None:
        super().__init__()
        if k < 2 or epochs_per_round < 1:
            raise ValueError(f"DeepCluster needs k >= 2 clusters and epochs_per_round >= 1, got k={k}, "
                             f"epochs_per_round={epochs_per_round}")
        self.encoder = SobelEncoder(with_in_channels(encoder, 2)) if sobel else encoder
        self.head = nn.Linear(self.encoder.dim, k)
        self.k, self.pca_dim, self.epochs_per_round = k, pca_dim, epochs_per_round
        self.fix_empty, self.uniform_sampling, self.augment_fn = fix_empty, uniform_sampling, augment_fn
        self.generator = torch.Generator().manual_seed(seed)
        self.register_buffer("labels", torch.zeros(0, dtype=torch.long), persistent=False)
        self.sampling_weights: torch.Tensor | None = None
        self.assignments: list[torch.Tensor] = []
        self.refilled: list[int] = []

    def refresh(self, x: torch.Tensor, epoch: int) -> None:
        """Start a round at every epochs_per_round-th epoch: cluster the features of all of x."""
        if epoch % self.epochs_per_round:
            return
        k = min(self.k, len(x))   # a tiny set (a smoke test) cannot have more clusters than images
        z = evaluation.embed(self.encoder, x)   # on the run's device (runtime.resolve_device)
        assign, refilled = kmeans(pca_whiten(z, self.pca_dim), k, fix_empty=self.fix_empty, generator=self.generator)
        counts = torch.bincount(assign, minlength=self.k).float()
        # uniform sampling: each image drawn with probability 1 / (k * size of its cluster) (methods.train reads it)
        self.sampling_weights = 1.0 / counts[assign] if self.uniform_sampling else None
        self.labels = assign.to(self.head.weight.device)
        self.head.reset_parameters()   # the cluster ids mean something else every round
        self.assignments.append(assign)
        self.refilled.append(refilled)

    def loss(self, x: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """Weighted cross-entropy against the clusters of images `index` (default: images 0..B-1) of the last round."""
        if len(self.labels) == 0:
            raise RuntimeError("DeepCluster has no clusters yet: train it with methods.train, or call refresh(x, 0)")
        y = self.labels[index] if index is not None else self.labels[:len(x)]
        logits = self.head(self.encoder(self.augment_fn(x) if self.augment_fn is not None else x))
        return F.cross_entropy(logits, y)


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
                      batch_size: int = 64, lr: float = 1e-3, warmup_epochs: float = 0.0, pca_dim: int = 64,
                      fix_empty: bool = True, uniform_sampling: bool = True, y: torch.Tensor | None = None,
                      seed: int = 0, device: torch.device | str | None = None, augment=None,
                      desc: str = "DeepCluster", progress: bool = True) -> DeepClusterHistory:
    """Train `encoder` in place with DeepCluster (the registry's method, sobel left to the caller) for
    `rounds` rounds of epochs_per_round epochs; return per-round figures.

    y (optional) is used only to report NMI with the true labels. augment(x) -> x, if given, is applied
    to every training batch (the paper trains with random crops and flips)."""
    from . import methods   # imported here: methods imports this module for its registry

    model = DeepCluster(encoder, k=k, pca_dim=pca_dim, epochs_per_round=epochs_per_round, fix_empty=fix_empty,
                        uniform_sampling=uniform_sampling, sobel=False, augment_fn=augment, seed=seed)
    # A constant lr, as the paper's SGD: the clusters change every round, so a decaying lr would freeze them.
    h = methods.train(model, x, epochs=rounds * epochs_per_round, batch_size=batch_size, lr=lr,
                      warmup_epochs=warmup_epochs, seed=seed, device=device, desc=desc, progress=progress,
                      schedule=None)
    history, previous = DeepClusterHistory(seconds=h.seconds), None
    for r, (assign, refilled) in enumerate(zip(model.assignments, model.refilled)):
        counts = torch.bincount(assign, minlength=k).float()
        history.rounds.append(Round(nmi(assign, y) if y is not None else None,
                                    nmi(assign, previous) if previous is not None else None,
                                    counts.max().item() / len(x), refilled,
                                    h.epoch_losses[min(len(h.epoch_losses), (r + 1) * epochs_per_round) - 1]))
        previous = assign
    return history

"""Colorization as a pretext task (Zhang, Isola & Efros, ECCV 2016): predict an image's colours from its lightness.

Images are split into CIE Lab: the network sees the lightness L and predicts the two colour channels
ab. Two losses, as the paper compares them:
- "regression": L2 on ab. Where the colour is uncertain the L2 optimum is the *mean* of the possible
  colours, which is greyish (low chroma): the paper's Figure 2.
- "classification": ab quantised into bins of `bin_size` (the paper: 10) and a cross-entropy over the
  bins seen in the training images, each pixel weighted by the rarity of its bin ("class rebalancing",
  eq. 3-4, with lambda = 1/2; the paper also smooths the bin distribution with a Gaussian and
  soft-encodes targets over 5 neighbouring bins, which we leave out: a pixel's target is its nearest bin).
  A prediction is decoded with the paper's annealed mean (T = 0.38).
Predictions are made at 1/8 of the image's resolution (the encoder's last feature map) and compared
with the ab channels pooled to that size; the paper predicts at 1/4.

The model follows the method protocol of `methods`: ``.encoder`` takes RGB images (it converts them to L
itself), ``loss(x)`` takes a batch of RGB images in [0, 1].
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# sRGB (D65) -> XYZ, and the D65 white point
_RGB_TO_XYZ = torch.tensor([[0.412453, 0.357580, 0.180423],
                            [0.212671, 0.715160, 0.072169],
                            [0.019334, 0.119193, 0.950227]])
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])
_EPS = (6 / 29) ** 3


def rgb_to_lab(x: torch.Tensor, constants: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """sRGB images (B, 3, H, W) in [0, 1] -> CIE Lab (B, 3, H, W): L in [0, 100], a and b about [-110, 110].

    constants: (RGB -> XYZ matrix, white point) already on x's device (a model's buffers), so that a
    training step copies nothing from the host; by default they are copied over."""
    matrix, white = constants if constants is not None else (_RGB_TO_XYZ.to(x), _WHITE.to(x))
    lin = torch.where(x > 0.04045, ((x + 0.055) / 1.055) ** 2.4, x / 12.92)
    xyz = torch.einsum("ij,bjhw->bihw", matrix.to(x.dtype), lin) / white.to(x.dtype)[None, :, None, None]
    f = torch.where(xyz > _EPS, xyz.clamp_min(_EPS) ** (1 / 3), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE Lab (B, 3, H, W) -> sRGB in [0, 1] (out-of-gamut colours clipped)."""
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], dim=1)
    xyz = torch.where(f > 6 / 29, f ** 3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _WHITE.to(lab)[None, :, None, None]
    lin = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_RGB_TO_XYZ).to(lab), xyz).clamp(0, 1)
    return torch.where(lin > 0.0031308, 1.055 * lin.clamp_min(1e-8) ** (1 / 2.4) - 0.055, 12.92 * lin).clamp(0, 1)


def pooled_ab(x: torch.Tensor, size: int | tuple[int, int],
              constants: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """The ab channels of RGB images (B, 3, H, W) averaged down to `size`: (B, 2, h, w), as the loss compares them."""
    return F.adaptive_avg_pool2d(rgb_to_lab(x, constants)[:, 1:], size)


def chroma(ab: torch.Tensor) -> torch.Tensor:
    """Colourfulness of each pixel, sqrt(a^2 + b^2): (B, 2, H, W) -> (B, H, W); 0 is grey."""
    return ab.pow(2).sum(dim=1).sqrt()


class ABBins:
    """The ab bins seen in a set of images, their frequencies, and the rebalancing weight of each bin."""

    def __init__(self, ab: torch.Tensor, *, bin_size: float = 10.0, lam: float = 0.5,
                 centres: torch.Tensor | None = None) -> None:
        """ab: (N, 2, H, W) colour channels of the training images (at the resolution the loss uses).

        centres (Q, 2): fixed bin centres (e.g. in_gamut's) whose frequencies are counted in ab, each pixel
        in its nearest bin (a bin no pixel falls in has p = 0); by default the bins that occur in ab."""
        self.bin_size, self.lam = bin_size, lam
        if centres is None:
            cells = torch.round(ab / bin_size).long().permute(0, 2, 3, 1).reshape(-1, 2)   # (pixels, 2) grid cells
            cells, counts = torch.unique(cells, dim=0, return_counts=True)                 # (Q, 2), (Q,)
            self.centres = cells.float() * bin_size                                         # (Q, 2) ab of each bin
        else:
            self.centres = centres.float().cpu()
            counts = torch.bincount(self.nearest(ab.float().cpu()).flatten(), minlength=len(self.centres))
        self.p = counts.float() / counts.sum()
        w = 1.0 / ((1 - lam) * self.p + lam / len(self.p))                            # Zhang et al. eq. 4
        self.weights = w / (self.p * w).sum()                                          # E_p[w] = 1

    @classmethod
    def in_gamut(cls, *, bin_size: float = 10.0, lam: float = 0.5, levels: int = 32) -> "ABBins":
        """The bins of every ab that an sRGB colour can have (the paper has Q = 313 of them), counted
        over a grid of levels^3 RGB colours: fixed bins for a model built before it sees any data."""
        v = torch.linspace(0, 1, levels)
        rgb = torch.stack(torch.meshgrid(v, v, v, indexing="ij")).reshape(1, 3, -1, 1)   # (1, 3, levels^3, 1)
        return cls(rgb_to_lab(rgb)[:, 1:], bin_size=bin_size, lam=lam)

    def __len__(self) -> int:
        return len(self.centres)

    def nearest(self, ab: torch.Tensor, centres: torch.Tensor | None = None) -> torch.Tensor:
        """Index of the nearest bin centre for every pixel: (B, 2, H, W) -> (B, H, W) long (centres: self.centres
        already on ab's device, e.g. a model's buffer)."""
        flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)
        idx = torch.cdist(flat, (centres if centres is not None else self.centres).to(ab)).argmin(dim=1)
        return idx.view(ab.shape[0], *ab.shape[2:])

    def decode(self, logits: torch.Tensor, temperature: float = 0.38) -> torch.Tensor:
        """The annealed mean of the predicted bin distribution: logits (B, Q, H, W) -> ab (B, 2, H, W).

        temperature 1 gives the mean (greyish, like L2), near 0 the mode (vivid but patchy); the paper uses 0.38."""
        p = F.softmax(logits / temperature, dim=1)
        return torch.einsum("bqhw,qc->bchw", p, self.centres.to(logits))


class LightnessEncoder(nn.Module):
    """An encoder of the lightness channel that takes RGB images: (B, 3, H, W) -> features, via L scaled to [-1, 1]."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.net, self.dim = encoder, encoder.dim
        self.register_buffer("rgb_to_xyz", _RGB_TO_XYZ.clone(), persistent=False)
        self.register_buffer("white", _WHITE.clone(), persistent=False)

    def lab(self, x: torch.Tensor) -> torch.Tensor:
        """rgb_to_lab with the constants on the model's device."""
        return rgb_to_lab(x, (self.rgb_to_xyz, self.white))

    def lightness(self, x: torch.Tensor) -> torch.Tensor:
        return self.lab(x)[:, :1] / 50.0 - 1.0

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's last feature map (B, D, H/8, W/8), before its pooling."""
        return self.net.features(self.lightness(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.lightness(x))


class Colorizer(nn.Module):
    """Predict ab from L at 1/8 resolution, by L2 regression or by classification over rebalanced ab bins."""

    def __init__(self, encoder: nn.Module, *, loss: str = "classification", bins: ABBins | None = None,
                 fit_bins: bool = False) -> None:
        """fit_bins: recount the bins' frequencies and weights on the training images when training starts
        (refresh), keeping their centres: how the method registry builds it before it has seen any data."""
        super().__init__()
        if loss not in ("regression", "classification"):
            raise ValueError(f"loss must be 'regression' or 'classification', got {loss!r}")
        if loss == "classification" and bins is None:
            raise ValueError("the classification loss needs the ab bins of the training images: "
                             "Colorizer(encoder, bins=ABBins(ab_of_training_images))")
        if not hasattr(encoder, "features"):
            raise TypeError("the encoder needs a .features feature map, e.g. encoders.ConvEncoder(in_channels=1)")
        self.encoder = LightnessEncoder(encoder)
        self.kind, self.bins, self.fit_bins = loss, bins, fit_bins
        self.head = nn.Conv2d(encoder.dim, 2 if loss == "regression" else len(bins), kernel_size=1)
        if bins is not None:
            self.register_buffer("weights", bins.weights.clone(), persistent=False)
            self.register_buffer("centres", bins.centres.clone(), persistent=False)

    def refresh(self, x: torch.Tensor, epoch: int) -> None:
        """methods.train calls this before every epoch: with fit_bins, the first one rebalances the bins on x."""
        if self.fit_bins and epoch == 0 and self.bins is not None:
            with torch.no_grad():
                grid = self(x[:1].to(self.weights.device)).shape[-2:]
            ab = torch.cat([pooled_ab(xb.float(), grid).cpu() for xb in x.split(512)])
            self.bins = ABBins(ab, bin_size=self.bins.bin_size, lam=self.bins.lam, centres=self.bins.centres)
            self.weights.copy_(self.bins.weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The head's output at 1/8 resolution: ab / 100 (B, 2, h, w) or bin logits (B, Q, h, w)."""
        return self.head(self.encoder.features(x))

    def predict_ab(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted ab at 1/8 resolution (the annealed mean for the classification loss)."""
        out = self(x)
        return 100.0 * out if self.kind == "regression" else self.bins.decode(out)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        out = self(x)
        ab = pooled_ab(x, out.shape[-2:], (self.encoder.rgb_to_xyz, self.encoder.white))
        if self.kind == "regression":
            return F.mse_loss(out, ab / 100.0)   # the head predicts ab / 100, about [-1, 1]
        target = self.bins.nearest(ab, self.centres)
        per_pixel = F.cross_entropy(out, target, reduction="none")
        return (per_pixel * self.weights[target]).mean()


def colorize(model: Colorizer, x: torch.Tensor) -> torch.Tensor:
    """RGB images recoloured by the model: the true L with the predicted ab upsampled to full size."""
    with torch.no_grad():
        lab = rgb_to_lab(x)
        ab = F.interpolate(model.predict_ab(x), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return lab_to_rgb(torch.cat([lab[:, :1], ab], dim=1))

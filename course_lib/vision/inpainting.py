"""Context encoders (Pathak et al., CVPR 2016): hide a region, encode the rest, decode the hole.

    L_rec = || M * (x - F((1 - M) * x)) ||^2                        (masked L2, eq. 1)
    L_adv = max_D E[log D(x) + log(1 - D(F((1 - M) * x)))]           (DCGAN objective, eq. 2)
    L     = lambda_rec * L_rec + lambda_adv * L_adv,  lambda_rec = 0.999, lambda_adv = 0.001

`ContextEncoder` follows the course's self-supervised protocol: it holds `.encoder` (with `.dim`) and
`loss(x)` computes the whole training loss from unlabelled images, generator and discriminator
together, so `training.fit` with one optimizer trains both (see `loss` for how the gradients are kept
apart).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from .masks import apply_mask, make_mask

LAMBDA_REC, LAMBDA_ADV = 0.999, 0.001  # the paper's weighting


def masked_l2(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the hole only: sum(M * (x_hat - x)^2) / (C * sum(M)); mask (B, 1, H, W)."""
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat {tuple(x_hat.shape)} and x {tuple(x.shape)} must have the same shape")
    per_pixel = (x_hat - x).pow(2) * mask  # (B, C, H, W), zero outside the hole
    return per_pixel.sum() / (mask.sum() * x.shape[1]).clamp_min(1.0)


def psnr(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB inside the hole, for images in [0, 1]: 10 log10(1 / MSE)."""
    mse = masked_l2(x_hat.clamp(0, 1), x, mask).item()
    return 10.0 * math.log10(1.0 / max(mse, 1e-10))


class Decoder(nn.Module):
    """Feature vector (B, dim) -> image (B, 3, S, S): a linear layer to an S/8 map, then three upsampling steps.

    upsample="bilinear" (the default) paints at half resolution and enlarges the colours bilinearly;
    upsample="transposed" paints every pixel with learned up-convolutions (stride-2 transposed convs,
    like Pathak et al.'s decoder), so no fixed interpolation smooths the fill whatever the loss.
    """

    UPSAMPLES = ("bilinear", "transposed")

    def __init__(self, dim: int, image_size: int, channels: int = 3, width: int = 32,
                 upsample: str = "bilinear") -> None:
        super().__init__()
        if image_size % 8:
            raise ValueError(f"the decoder needs an image size divisible by 8, got {image_size}")
        if upsample not in self.UPSAMPLES:
            raise ValueError(f"unknown upsample {upsample!r}; choose one of {', '.join(self.UPSAMPLES)}")
        self.s0, self.c0, self.upsample = image_size // 8, 4 * width, upsample
        # The fully connected layer lets every hole pixel depend on the whole context (the paper's
        # channel-wise fully connected layer plays this role).
        self.fc = nn.Sequential(nn.Linear(dim, self.c0 * self.s0 * self.s0), nn.ReLU(inplace=True))

        if upsample == "transposed":
            def upconv(c_in: int, c_out: int) -> nn.Sequential:
                return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out),
                                     nn.ReLU(inplace=True))

            self.net = nn.Sequential(upconv(4 * width, 2 * width), upconv(2 * width, width),   # S/4, S/2
                                     nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Sigmoid())  # S
            return

        def up(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                 nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))

        # Paint at half resolution and upsample the colours bilinearly: a full-resolution conv would
        # cost more than the whole encoder, for detail that an L2-trained fill blurs away anyway.
        self.net = nn.Sequential(up(4 * width, 2 * width), up(2 * width, width),
                                 nn.Conv2d(width, channels, 3, padding=1),
                                 nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Decode a batch of feature vectors into images in [0, 1]."""
        h = self.fc(z).view(len(z), self.c0, self.s0, self.s0)  # (B, 4w, S/8, S/8)
        return self.net(h)                                        # (B, 3, S, S)


class Discriminator(nn.Module):
    """A small DCGAN-style critic: (B, 3, S, S) -> one logit per image (no BatchNorm, LeakyReLU)."""

    def __init__(self, channels: int = 3, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),        # S/2
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),       # S/4
            nn.Conv2d(2 * width, 4 * width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),   # S/8
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the real-vs-fake logit of each image, shape (B,)."""
        return self.net(x).squeeze(1)


class ContextEncoder(nn.Module):
    """Encoder + decoder that inpaint a masked region; with adv_weight > 0, a discriminator too."""

    def __init__(self, encoder: nn.Module, *, image_size: int, mask: str = "central", hole: int | None = None,
                 adv_weight: float = 0.0, width: int = 32, upsample: str = "bilinear") -> None:
        super().__init__()
        if not hasattr(encoder, "dim"):
            raise AttributeError("ContextEncoder needs an encoder with a .dim attribute (its output size), "
                                 "like those from course_lib.vision.encoders")
        hole = image_size // 2 if hole is None else hole
        make_mask(mask, 1, image_size, hole)  # fail now, with a clear message, on a bad kind or size
        self.encoder, self.mask_kind, self.hole, self.image_size = encoder, mask, hole, image_size
        self.decoder = Decoder(encoder.dim, image_size, width=width, upsample=upsample)
        self.adv_weight = adv_weight
        self.discriminator = Discriminator(width=width) if adv_weight > 0 else None
        self.parts: dict[str, torch.Tensor] = {}  # the last loss(x)'s terms, detached: rec (+ adv, disc)

    def masks(self, b: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None) -> torch.Tensor:
        """A batch of this model's masks (B, 1, S, S), 1 in the hole."""
        return make_mask(self.mask_kind, b, self.image_size, self.hole, generator=generator, device=device)

    def inpaint(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Predict the full image from its context; the caller pastes the hole: x*(1-M) + x_hat*M."""
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(f"this context encoder was built for {self.image_size}x{self.image_size} images, "
                             f"got {tuple(x.shape[-2:])}")
        return self.decoder(self.encoder(apply_mask(x, mask)))  # (B, 3, S, S)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """lambda_rec * L_rec (+ lambda_adv * L_adv for the generator, + the discriminator's own loss)."""
        mask = self.masks(len(x), x.device)
        x_hat = self.inpaint(x, mask)
        rec = masked_l2(x_hat, x, mask)
        self.parts = {"rec": rec.detach()}
        if self.discriminator is None:
            return rec
        fake = x * (1 - mask) + x_hat * mask  # the context with the predicted hole pasted in
        ones, zeros = torch.ones(len(x), device=x.device), torch.zeros(len(x), device=x.device)
        # Discriminator: real vs (detached) fake; its gradient reaches only the discriminator.
        d_loss = (F.binary_cross_entropy_with_logits(self.discriminator(x), ones)
                  + F.binary_cross_entropy_with_logits(self.discriminator(fake.detach()), zeros))
        # Generator: fool a *frozen copy* of the discriminator (detached weights), so this term
        # trains only the encoder and decoder. One optimizer then serves both players.
        frozen = {k: v.detach() for k, v in self.discriminator.named_parameters()}
        g_adv = F.binary_cross_entropy_with_logits(functional_call(self.discriminator, frozen, (fake,)), ones)
        self.parts.update(adv=g_adv.detach(), disc=d_loss.detach())
        w = self.adv_weight
        return (1 - w) * rec + w * g_adv + d_loss


@torch.no_grad()
def reconstruct(model: ContextEncoder, x: torch.Tensor, mask: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """Inpaint x (N, 3, S, S) under mask (N, 1, S, S) in eval mode; return the pasted result on the CPU."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        out = [model.inpaint(x[i:i + batch_size].to(device), mask[i:i + batch_size].to(device)).cpu()
               for i in range(0, len(x), batch_size)]
    finally:
        model.train(was)
    x_hat = torch.cat(out)
    return x * (1 - mask) + x_hat * mask


def sharpness(x: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean absolute difference between neighbouring pixels inside the hole (blurry images score low)."""
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs() * mask[..., :, 1:] * mask[..., :, :-1]
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs() * mask[..., 1:, :] * mask[..., :-1, :]
    n = (mask[..., :, 1:] * mask[..., :, :-1]).sum() + (mask[..., 1:, :] * mask[..., :-1, :]).sum()
    return ((dx.sum() + dy.sum()) / (n * x.shape[1]).clamp_min(1.0)).item()


def gradient_energy(x: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean squared difference between neighbouring pixels inside the hole: the power of the fill's
    edges and texture (its high frequencies). A blurred image has less of it than the sharp original."""
    dx = (x[..., :, 1:] - x[..., :, :-1]).pow(2) * mask[..., :, 1:] * mask[..., :, :-1]
    dy = (x[..., 1:, :] - x[..., :-1, :]).pow(2) * mask[..., 1:, :] * mask[..., :-1, :]
    n = (mask[..., :, 1:] * mask[..., :, :-1]).sum() + (mask[..., 1:, :] * mask[..., :-1, :]).sum()
    return ((dx.sum() + dy.sum()) / (n * x.shape[1]).clamp_min(1.0)).item()

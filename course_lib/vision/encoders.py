"""Image encoders: a small CNN that trains on a laptop CPU, and a CIFAR-style ResNet-18."""
from __future__ import annotations

import torch
from torch import nn


def _block(c_in: int, c_out: int, stride: int, batch_norm: bool = True) -> nn.Sequential:
    """conv3x3 -> BatchNorm -> ReLU (conv3x3 with a bias -> ReLU without BatchNorm); stride 2 halves the size."""
    if not batch_norm:
        return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1), nn.ReLU(inplace=True))
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class ConvEncoder(nn.Module):
    """Four conv-BN-ReLU blocks and a global average pool: (B, C, H, W) -> (B, 8 * width); fast on a CPU.

    ``batch_norm=False`` builds the same network without BatchNorm (each convolution gets a bias): the second
    architecture of notebook 06's "architecture matters" comparison."""

    def __init__(self, width: int = 32, in_channels: int = 3, *, batch_norm: bool = True) -> None:
        super().__init__()
        if width < 1 or in_channels < 1:
            raise ValueError(f"width and in_channels must be positive, got width={width}, "
                             f"in_channels={in_channels}")
        w = width
        # The first block already strides by 2: a full-resolution block costs 3x the whole rest
        # of the network on a CPU. Channels double while the image halves, so blocks cost alike.
        self.features = nn.Sequential(
            _block(in_channels, w, 2, batch_norm),  # (B, w, H/2, W/2)
            _block(w, 2 * w, 2, batch_norm),        # (B, 2w, H/4, W/4)
            _block(2 * w, 4 * w, 2, batch_norm),    # (B, 4w, H/8, W/8)
            _block(4 * w, 8 * w, 1, batch_norm),    # (B, 8w, H/8, W/8)
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dim = 8 * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode a batch of images into one feature vector each."""
        h = self.features(x)            # (B, 8w, H/8, W/8)
        return self.pool(h).flatten(1)  # (B, 8w)


class ResNet18Encoder(nn.Module):
    """torchvision's ResNet-18 adapted to 32x32 inputs (3x3 stem, no max-pool): (B, 3, H, W) -> (B, 512)."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        from torchvision.models import resnet18  # imported here: only later notebooks need it

        net = resnet18(weights=None)
        # The ImageNet stem (7x7 stride 2 + max-pool) would shrink a 32x32 image to 8x8 at once.
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        net.fc = nn.Identity()
        self.net = net
        self.dim = 512

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map (B, 512, H/8, W/8), before the pooling (colorization predicts from it)."""
        n = self.net
        x = n.relu(n.bn1(n.conv1(x)))
        return n.layer4(n.layer3(n.layer2(n.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode a batch of images into 512-d feature vectors."""
        return self.net(x)  # (B, 512)


ENCODERS = ("convnet", "resnet18")


def with_in_channels(encoder: nn.Module, channels: int) -> nn.Module:
    """The encoder with its first convolution replaced by a fresh one that takes `channels` input channels
    (same output channels, kernel, stride and padding), in place; returned for chaining. Colorization
    feeds it the lightness alone (1 channel), DeepCluster two Sobel gradients, whatever it was built for."""
    for parent in encoder.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Conv2d):
                if child.in_channels != channels:
                    setattr(parent, name, nn.Conv2d(channels, child.out_channels, child.kernel_size, child.stride,
                                                    child.padding, bias=child.bias is not None).to(child.weight.device))
                return encoder
    raise TypeError(f"{type(encoder).__name__} has no convolution whose input channels could be changed")


def make_encoder(name: str, **kw) -> nn.Module:
    """Build an encoder by name ("convnet" or "resnet18"); keyword arguments go to its constructor."""
    if name == "convnet":
        return ConvEncoder(**kw)
    if name == "resnet18":
        return ResNet18Encoder(**kw)
    raise ValueError(f"unknown encoder {name!r}; valid names are {', '.join(ENCODERS)}")

"""CPC on a patch grid: patches encoded on their own, a causal context, InfoNCE over the chosen negatives."""
from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from course_lib.vision import encoders
from course_lib.vision.cpc import CPC, PatchGridEncoder


def test_every_grid_code_is_its_patch_encoded_alone():
    torch.manual_seed(0)
    enc = PatchGridEncoder(encoders.ConvEncoder(width=4), patch=8, stride=4).eval()
    x = torch.rand(2, 3, 20, 16)
    z = enc.grid(x)
    assert z.shape == (2, 4, 3, enc.dim)        # rows (20 - 8) // 4 + 1, cols (16 - 8) // 4 + 1
    with torch.no_grad():
        for r, c in [(0, 0), (3, 2), (1, 2)]:
            alone = enc.patch_encoder(x[:, :, 4 * r:4 * r + 8, 4 * c:4 * c + 8])
            torch.testing.assert_close(z[:, r, c], alone, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(enc(x), z.mean(dim=(1, 2)))


def reference_loss(model: CPC, x: torch.Tensor) -> torch.Tensor:
    """The same loss with explicit loops over images, columns and rows."""
    z = model.encoder.grid(x)
    b, rows, cols, d = z.shape
    c = torch.stack([model.context(z[:, :, s])[0] for s in range(cols)], dim=2)   # (B, R, S, Dc)
    per_k = []
    for k, predictor in enumerate(model.predictors, start=1):
        terms = []
        for i in range(b):
            for s in range(cols):
                for t in range(rows - k):
                    pred = predictor(c[i, t, s])
                    if model.negatives == "batch":
                        cands, pos = z[:, t + k, s], i
                    else:
                        cands = z[i, k:].permute(1, 0, 2).reshape(-1, d)   # every target of image i, column by column
                        pos = s * (rows - k) + t
                    terms.append(-F.log_softmax(cands @ pred, dim=0)[pos])
        per_k.append(torch.stack(terms).mean())
    return torch.stack(per_k).mean()


@pytest.mark.parametrize("negatives", ["batch", "image"])
def test_the_loss_matches_explicit_loops(negatives):
    torch.manual_seed(0)
    model = CPC(encoders.ConvEncoder(width=4), patch=8, stride=4, steps=2, negatives=negatives).eval()
    x = torch.rand(3, 3, 20, 16)
    with torch.no_grad():
        torch.testing.assert_close(model.loss(x), reference_loss(model, x), atol=1e-4, rtol=1e-4)


def test_the_context_sees_only_the_rows_above():
    torch.manual_seed(0)
    model = CPC(encoders.ConvEncoder(width=4), patch=8, stride=8, steps=1).eval()
    x = torch.rand(1, 3, 32, 8)
    y = x.clone()
    y[:, :, 24:] = torch.rand(1, 3, 8, 8)                              # change only the last row of patches
    with torch.no_grad():
        cx = model.context(model.encoder.grid(x)[:, :, 0])[0]
        cy = model.context(model.encoder.grid(y)[:, :, 0])[0]
    torch.testing.assert_close(cx[:, :3], cy[:, :3])
    assert not torch.allclose(cx[:, 3], cy[:, 3])


def test_a_trained_step_lowers_the_loss_from_near_chance():
    torch.manual_seed(0)
    model = CPC(encoders.ConvEncoder(width=4), patch=8, stride=4, negatives="image")
    x = torch.rand(8, 3, 16, 16)
    start = model.loss(x)
    assert start.item() < math.log(6) + 1.0                            # k = 1: 6 candidates, k = 2: 3 (a 3x3 grid)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(20):
        opt.zero_grad()
        loss = model.loss(x)
        loss.backward()
        opt.step()
    assert model.loss(x).item() < start.item()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="negatives"):
        CPC(encoders.ConvEncoder(width=4), negatives="queue")
    with pytest.raises(ValueError, match="steps"):
        CPC(encoders.ConvEncoder(width=4), steps=0)
    with pytest.raises(ValueError, match="rows"):
        CPC(encoders.ConvEncoder(width=4), patch=8, stride=8, steps=2).loss(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match="smaller"):
        PatchGridEncoder(encoders.ConvEncoder(width=4), patch=8).grid(torch.rand(1, 3, 4, 4))

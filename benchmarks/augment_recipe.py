"""Our batched augmentations against torchvision's transforms.v2 on the same images: crop areas and colour changes.

    python benchmarks/augment_recipe.py                          # a few seconds on 2 idle CPU cores
    python benchmarks/augment_recipe.py --n 4000 --n-jitter 2000  # tighter figures, slower

Two tables. Crop area: the fraction of the image each random resized crop keeps (mean and quartiles),
read from the sampled boxes (augment.crop_boxes) and from torchvision's RandomResizedCrop.make_params,
for the course recipe ("clamp" sampler, scale (0.2, 1)) and the paper recipe ("torchvision" sampler,
scale (0.08, 1)). Colour: what the colour jitter alone (p = 1) does to each image: the change of its
mean luma (brightness), of its mean HSV saturation, and of its hue (per-pixel hue change wrapped to
half a turn, averaged over saturated pixels), as mean and std over images, for our fixed-order YIQ
jitter (course), our random-order HSV jitter (simclr, byol) and torchvision's ColorJitter, on the first
n_jitter images (torchvision's transform runs image by image: the slow part of this script).
The last line is one JSON object: {"n": N, "n_jitter": M, "crop_area": {row: {mean, q25, q50, q75}},
"jitter": {row: {d_brightness_mean, d_brightness_std, d_saturation_mean, d_saturation_std,
d_hue_abs_mean, d_hue_std}}, "lightly": {...}, "seconds": s}.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from torchvision.transforms import v2

from course_lib import data
from course_lib.vision import augment

# lightly 1.6.0's defaults (read from its source: lightly/transforms/simclr_transform.py and
# byol_transform.py), for comparison. Their sizes and blur are ImageNet's, with torchvision's ops.
LIGHTLY = {
    "SimCLRTransform": {"min_scale": 0.08, "cj_prob": 0.8, "cj_strength": 1.0, "jitter": [0.8, 0.8, 0.8, 0.2],
                        "random_gray_scale": 0.2, "gaussian_blur": 0.5, "sigmas": [0.1, 2], "hf_prob": 0.5},
    "BYOLView1Transform": {"min_scale": 0.08, "cj_prob": 0.8, "jitter": [0.4, 0.4, 0.2, 0.1],
                           "random_gray_scale": 0.2, "gaussian_blur": 1.0, "solarization_prob": 0.0},
    "BYOLView2Transform": {"min_scale": 0.08, "cj_prob": 0.8, "jitter": [0.4, 0.4, 0.2, 0.1],
                           "random_gray_scale": 0.2, "gaussian_blur": 0.1, "solarization_prob": 0.2},
}
# (row name, ours: crop sampler, scale) for the crop table; each is paired with torchvision at the same scale.
CROP_ROWS = [("course (clamp)", "clamp", (0.2, 1.0)), ("clamp at paper scale", "clamp", (0.08, 1.0)),
             ("simclr (torchvision)", "torchvision", (0.08, 1.0))]
# (row name, recipe whose jitter we use, torchvision's ColorJitter strengths)
JITTER_ROWS = [("course", "course", (0.4, 0.4, 0.4, 0.1)), ("simclr", "simclr", (0.4, 0.4, 0.4, 0.1)),
               ("byol", "byol_view1", (0.4, 0.4, 0.2, 0.1))]


def tv_crop_params(rrc: v2.RandomResizedCrop, image: torch.Tensor) -> dict:
    """One box torchvision samples, {top, left, height, width} (make_params since 0.21, _get_params before)."""
    sample = getattr(rrc, "make_params", None) or rrc._get_params
    return sample([image])


def _quartiles(area: torch.Tensor) -> dict:
    """Mean and quartiles of crop-area fractions (N,)."""
    q = area.float().quantile(torch.tensor([0.25, 0.5, 0.75]))
    return {"mean": area.float().mean().item(), "q25": q[0].item(), "q50": q[1].item(), "q75": q[2].item()}


def crop_areas(x: torch.Tensor, repeats: int) -> dict:
    """Crop-area statistics of ours and torchvision's RandomResizedCrop on images x, `repeats` draws per image."""
    out = {}
    big = x.repeat(repeats, 1, 1, 1)
    h, w = x.shape[-2:]
    for name, crop, scale in CROP_ROWS:
        box = augment.crop_boxes(big, torch.Generator().manual_seed(0), scale=scale, crop=crop)   # (N, 4)
        out[f"ours {name}"] = _quartiles(box[:, 2] * box[:, 3])
        key = f"torchvision scale={scale}"
        if key not in out:
            torch.manual_seed(0)  # torchvision draws from the global RNG
            rrc = v2.RandomResizedCrop(h, scale=scale)
            params = [tv_crop_params(rrc, im) for im in big]
            out[key] = _quartiles(torch.tensor([p["height"] * p["width"] / (h * w) for p in params]))
    return out


def _summary(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per image: mean luma (N,), mean HSV saturation (N,); per pixel: hue (N, H, W) and saturation (N, H, W)."""
    hue, sat, _ = augment._rgb_to_hsv(x)
    return augment._grey(x).mean((1, 2, 3)), sat.mean((1, 2)), hue, sat


def colour_changes(before: torch.Tensor, after: torch.Tensor) -> dict:
    """Mean and std over images of the change of brightness, saturation and hue from `before` to `after`."""
    b0, s0, h0, sat0 = _summary(before)
    b1, s1, h1, sat1 = _summary(after)
    dh = torch.remainder(h1 - h0 + 0.5, 1.0) - 0.5                            # (N, H, W) in [-0.5, 0.5) turns
    weight = ((sat0 > 0.1) & (sat1 > 0.1)).float()                             # hue means little on grey pixels
    dh = (dh * weight).sum((1, 2)) / weight.sum((1, 2)).clamp_min(1.0)         # (N,)
    return {"d_brightness_mean": (b1 - b0).mean().item(), "d_brightness_std": (b1 - b0).std().item(),
            "d_saturation_mean": (s1 - s0).mean().item(), "d_saturation_std": (s1 - s0).std().item(),
            "d_hue_abs_mean": dh.abs().mean().item(), "d_hue_std": dh.std().item()}


def jitter_stats(x: torch.Tensor) -> dict:
    """Colour changes of the jitter alone (p = 1): ours per recipe, and torchvision's ColorJitter image by image."""
    out = {}
    for name, recipe, strengths in JITTER_ROWS:
        st = augment.RECIPES[recipe]
        b, c, s, h = st["jitter"] or (0.8 * st["strength"], 0.8 * st["strength"], 0.8 * st["strength"],
                                      0.2 * st["strength"])
        ours = augment.color_jitter(x, torch.Generator().manual_seed(0), brightness=b, contrast=c, saturation=s,
                                    hue=h, p=1.0, order=st["order"], hue_space=st["hue_space"])
        out[f"ours {name}"] = colour_changes(x, ours)
        key = f"torchvision {strengths}"
        if key not in out:
            torch.manual_seed(0)
            jitter = v2.ColorJitter(*strengths)
            out[key] = colour_changes(x, torch.stack([jitter(im) for im in x]))
    return out


def _print_tables(result: dict) -> None:
    """The two tables and lightly's defaults, readable."""
    print(f"crop area fraction over {result['n_crops']} crops of {result['size']} px images")
    print(f"{'':<40}{'mean':>7}{'q25':>7}{'q50':>7}{'q75':>7}")
    for name, r in result["crop_area"].items():
        print(f"{name:<40}{r['mean']:>7.3f}{r['q25']:>7.3f}{r['q50']:>7.3f}{r['q75']:>7.3f}")
    print(f"\ncolour change by the jitter alone (p = 1) over {result['n_jitter']} images: mean (std) over images")
    print(f"{'':<40}{'brightness':>16}{'saturation':>16}{'|hue| (turns)':>15}{'hue std':>9}")
    for name, r in result["jitter"].items():
        print(f"{name:<40}{r['d_brightness_mean']:>+8.3f} ({r['d_brightness_std']:.3f})"
              f"{r['d_saturation_mean']:>+8.3f} ({r['d_saturation_std']:.3f})"
              f"{r['d_hue_abs_mean']:>15.3f}{r['d_hue_std']:>9.3f}")
    print("\nlightly 1.6.0 defaults (ImageNet sizes, torchvision ops):")
    for name, d in LIGHTLY.items():
        print(f"  {name}: " + ", ".join(f"{k}={v}" for k, v in d.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="images from the shapes set")
    parser.add_argument("--repeats", type=int, default=2, help="crops drawn per image")
    parser.add_argument("--n-jitter", type=int, default=1000, help="images for the colour table")
    args = parser.parse_args()
    start = time.perf_counter()
    x = data.load_images("shapes", n=args.n, size=32).x                       # (N, 3, 32, 32) in [0, 1]
    result = {"n": len(x), "n_jitter": min(args.n_jitter, len(x)), "n_crops": args.repeats * len(x),
              "size": x.shape[-1], "crop_area": crop_areas(x, args.repeats),
              "jitter": jitter_stats(x[:args.n_jitter]), "lightly": LIGHTLY}
    result["seconds"] = round(time.perf_counter() - start, 1)
    _print_tables(result)
    print(f"[time] {result['seconds']} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

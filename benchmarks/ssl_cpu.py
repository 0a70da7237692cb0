"""Every self-supervised method at the `ci` budget of notebook 09: probe, kNN, images/s, SimCLR's overhead.

    .venv/bin/python benchmarks/ssl_cpu.py [--profile ci]

Per method: linear-probe accuracy of the random-init and the trained encoder, kNN accuracy, and
training throughput (images/s); then SimCLR without colour distortion (its probe should be lower),
and SimCLR's step time divided by a supervised step of the same encoder on the same batch (N images,
one view, a linear head). Prints a table, then one JSON object of the same figures as the last line.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from torch.nn import functional as F

import course_lib
from course_lib import data, evaluation
from course_lib.vision import methods


def encoder_for(run) -> torch.nn.Module:
    """The notebook's encoder, freshly initialised from the run's seed."""
    torch.manual_seed(run.seed)
    return methods.encoder_for(run)


def build(run, name: str, image_size: int) -> torch.nn.Module:
    """Method `name` as notebook 09 builds it, from the run's seed; "simclr_no_colour" drops the colour distortion."""
    torch.manual_seed(run.seed)
    if name == "simclr_no_colour":
        return methods.build_for(run, "simclr", augment_fn=methods.augment_for(run, colour=False))
    return methods.build_for(run, name, image_size=image_size)


def step_ratio(run, x: torch.Tensor, reps: int = 5) -> tuple[float, float]:
    """Median seconds of a SimCLR step and of a supervised step (encoder + linear head) on the same batch."""
    def median_time(step) -> float:
        step()  # warm-up
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            step()
            times.append(time.perf_counter() - t)
        return sorted(times)[len(times) // 2]

    model = build(run, "simclr", x.shape[-1])
    opt = torch.optim.AdamW(model.parameters())
    sup = torch.nn.Sequential(encoder_for(run), torch.nn.Linear(model.encoder.dim, 10))
    opt_sup = torch.optim.AdamW(sup.parameters())
    y = torch.randint(0, 10, (len(x),), generator=torch.Generator().manual_seed(0))

    def ssl_step() -> None:
        opt.zero_grad(); model.loss(x).backward(); opt.step()

    def sup_step() -> None:
        opt_sup.zero_grad(); F.cross_entropy(sup(x), y).backward(); opt_sup.step()

    return median_time(ssl_step), median_time(sup_step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci", choices=["ci", "cpu", "gpu"])
    args = parser.parse_args()
    run = course_lib.setup("09_evaluation", profile=args.profile)
    train = data.load_images(run.dataset, train=True, n=run.n_train, seed=run.seed, size=run.image_size)
    test = data.load_images(run.dataset, train=False, n=run.n_test, seed=run.seed, size=run.image_size)
    random_probe = evaluation.score_encoder(encoder_for(run), train, test, seed=run.seed)
    results = {}
    for name in [*methods.METHODS, "simclr_no_colour"]:
        model = build(run, name, train.x.shape[-1])
        h = methods.train(model, train.x, epochs=run.epochs, batch_size=run.batch_size, lr=run.lr,
                          warmup_epochs=run.warmup_epochs, seed=run.seed, device=run.device, progress=False)
        s = evaluation.score_encoder(model.encoder, train, test, seed=run.seed)
        results[name] = {**s, "images_per_s": len(h.losses) * run.batch_size / h.seconds}
        print(f"[time] {name}: {h.epochs_done} epochs in {h.seconds:.1f} s", flush=True)
    ssl_s, sup_s = step_ratio(run, train.x[:run.batch_size])

    print(f"\n{'method':<18}{'probe random':>13}{'probe trained':>14}{'gain':>7}{'kNN':>7}{'images/s':>10}")
    for name, r in results.items():
        print(f"{name:<18}{random_probe['probe']:>13.1%}{r['probe']:>14.1%}"
              f"{100 * (r['probe'] - random_probe['probe']):>+7.1f}{r['knn']:>7.1%}{r['images_per_s']:>10.0f}")
    print(f"SimCLR step {1000 * ssl_s:.1f} ms vs supervised step {1000 * sup_s:.1f} ms on the same "
          f"{run.batch_size} images: ratio {ssl_s / sup_s:.2f}")
    print(json.dumps({
        "profile": run.profile, "dataset": run.dataset, "encoder": run.encoder, "epochs": run.epochs,
        "probe": {n: {"random": round(random_probe["probe"], 4), "trained": round(r["probe"], 4)}
                  for n, r in results.items() if n != "simclr_no_colour"},
        "knn": {n: round(r["knn"], 4) for n, r in results.items()},
        "images_per_s": {n: round(r["images_per_s"], 1) for n, r in results.items()},
        "simclr_no_colour_probe": round(results["simclr_no_colour"]["probe"], 4),
        "simclr_step_ratio": round(ssl_s / sup_s, 3),
        "simclr_step_ms": round(1000 * ssl_s, 2), "supervised_step_ms": round(1000 * sup_s, 2)}))


if __name__ == "__main__":
    main()

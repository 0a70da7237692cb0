"""Pretext tasks of notebooks 04-06 at their notebooks' budgets: probe and kNN (random init vs trained), images/s.

    python benchmarks/pretext.py                 # ci budget (a few minutes on 2 CPU cores)
    python benchmarks/pretext.py --profiles ci,cpu

Prints a table per profile, then, as its last line, one JSON object:
{"probe": {task: {"random": r, "trained": t}}, "knn": {...}, "images_per_s": {...}, "profiles": {profile: {...}}}
with the top-level "probe"/"knn"/"images_per_s" taken from the first profile listed (ci by default).
"""
from __future__ import annotations

import argparse
import json
import time

import torch

import course_lib
from course_lib import data, training
from course_lib.vision import encoders, methods, probing


def _tasks():
    """(task name, notebook row, options(run) for methods.build) for every pretext task of notebooks 04-06."""
    return [("context_encoder", "04_context_encoders", lambda run: {"hole": run.hole, "width": run.width}),
            ("relative_position", "05_context_jigsaw",
             lambda run: {"patch": run.patch, "gap": run.gap, "jitter": run.jitter,
                          "pairs_per_image": run.pairs_per_image}),
            ("jigsaw", "05_context_jigsaw",
             lambda run: {"patch": run.patch, "gap": run.gap, "jitter": run.jitter, "n_perms": run.n_perms,
                          "puzzles_per_image": run.puzzles_per_image, "seed": run.seed}),
            ("rotation", "06_rotation_architecture", lambda run: {})]


def measure(profile: str) -> dict:
    """Train every task at `profile`'s budget; return {probe, knn, images_per_s} per task."""
    out = {"probe": {}, "knn": {}, "images_per_s": {}}
    for task, notebook, options in _tasks():
        run = course_lib.setup(notebook, profile=profile, quiet=True)
        train = data.load_images(run.dataset, train=True, n=run.n_train, seed=run.seed, size=run.image_size)
        test = data.load_images(run.dataset, train=False, n=run.n_test, seed=run.seed, size=run.image_size)
        torch.manual_seed(run.seed)
        model = methods.build(task, encoders.ConvEncoder(width=run.width), image_size=run.image_size, **options(run))
        start = time.perf_counter()
        h = training.fit(model, lambda m, b: m.loss(b[0]), training.loader(train.x, batch_size=run.batch_size, seed=run.seed),
                         epochs=run.epochs, lr=run.lr, time_budget_s=run.time_budget_s, device=run.device, progress=False)
        seconds = time.perf_counter() - start
        torch.manual_seed(run.seed)
        s = probing.judge({"random": encoders.ConvEncoder(width=run.width), "trained": model.encoder}, train, test,
                          device=run.device, seed=run.seed, verbose=False)
        out["probe"][task] = {k: round(v["probe"], 4) for k, v in s.items()}
        out["knn"][task] = {k: round(v["knn"], 4) for k, v in s.items()}
        out["images_per_s"][task] = round(len(train.x) * h.epochs_done / seconds, 1)
    return out


def main() -> None:
    """Parse --profiles, measure each, print the tables and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="ci", help="comma-separated profiles, e.g. ci,cpu")
    args = parser.parse_args()
    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    results = {}
    for profile in profiles:
        r = results[profile] = measure(profile)
        print(f"\nprofile {profile}: {'task':<18}{'probe rnd':>10}{'probe trn':>10}{'kNN rnd':>9}{'kNN trn':>9}{'img/s':>8}")
        for task in r["probe"]:
            p, k = r["probe"][task], r["knn"][task]
            print(f"{'':<17}{task:<18}{100 * p['random']:>9.1f}%{100 * p['trained']:>9.1f}%"
                  f"{100 * k['random']:>8.1f}%{100 * k['trained']:>8.1f}%{r['images_per_s'][task]:>8.0f}")
    first = results[profiles[0]]
    print(json.dumps({**first, "profile": profiles[0], "profiles": results}))


if __name__ == "__main__":
    main()

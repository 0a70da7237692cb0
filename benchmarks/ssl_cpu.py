"""Every self-supervised method at the `ci` budget of notebook 09: probe, kNN, neighbours, images/s, SimCLR's overhead.

    .venv/bin/python benchmarks/ssl_cpu.py [--profile ci]
    .venv/bin/python benchmarks/ssl_cpu.py --methods simclr --diagnose --set epochs=30 --set aug.strength=1.0

Per method: linear-probe and kNN accuracy (cosine, k=20, weighted vote: evaluation.knn) of the
random-init and the trained encoder, the fraction of each test image's 8 nearest training images
that share its class (evaluation.neighbour_agreement), and training throughput (images/s); then
SimCLR without colour distortion (its probe should be lower), and SimCLR's step time divided by a
supervised step of the same encoder on the same batch (N images, one view, a linear head).

--diagnose adds, for the random encoder and each method, what the neighbours share besides the class
(on the offline shapes sets, whose generator's factors are known: shapes.shape_factors): the
agreement at k=8 in the shape's hue, the background's gradient direction and colour, the shape's
scale and position, each cut into bins with its chance level; and kNN accuracy after centring,
standardising and PCA-whitening the features with the training statistics (what a kNN loses to
directions of large variance that say nothing about the class).
--set key=value overrides a budget key of the notebook's row (epochs, batch_size, tau, lr, width,
n_train, ...); --set aug.key=value overrides a setting of the augmentation recipe
(augment.RECIPES: strength, jitter, scale, grayscale_p, ...); values are Python literals.
Prints a table, then one JSON object of the same figures as the last line.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import time

import torch
from torch.nn import functional as F

import course_lib
from course_lib import data, evaluation
from course_lib.data import shapes
from course_lib.vision import methods

AGREEMENT_K = 8


def encoder_for(run) -> torch.nn.Module:
    """The notebook's encoder, freshly initialised from the run's seed."""
    torch.manual_seed(run.seed)
    return methods.encoder_for(run)


def build(run, name: str, image_size: int, aug: dict) -> torch.nn.Module:
    """Method `name` as notebook 09 builds it, from the run's seed; "simclr_no_colour" drops the colour distortion."""
    torch.manual_seed(run.seed)
    options = {"augment_fn": methods.augment_for(run, **aug)} if aug and name in methods.AUGMENTING else {}
    if name == "simclr_no_colour":
        return methods.build_for(run, "simclr", augment_fn=methods.augment_for(run, **{**aug, "colour": False}))
    return methods.build_for(run, name, image_size=image_size, **options)


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

    model = build(run, "simclr", x.shape[-1], {})
    opt = torch.optim.AdamW(model.parameters())
    sup = torch.nn.Sequential(encoder_for(run), torch.nn.Linear(model.encoder.dim, 10))
    opt_sup = torch.optim.AdamW(sup.parameters())
    y = torch.randint(0, 10, (len(x),), generator=torch.Generator().manual_seed(0))

    def ssl_step() -> None:
        opt.zero_grad(); model.loss(x).backward(); opt.step()

    def sup_step() -> None:
        opt_sup.zero_grad(); F.cross_entropy(sup(x), y).backward(); opt_sup.step()

    return median_time(ssl_step), median_time(sup_step)


def supervised(run, train):
    """The notebook's encoder plus a linear layer trained with cross-entropy on all the training labels,
    for the same epochs, batch size and schedule as the methods (no augmentation): (History, model with .encoder)."""
    from course_lib import training

    model = torch.nn.Module()
    model.encoder = encoder_for(run)
    model.head = torch.nn.Linear(model.encoder.dim, int(train.y.max()) + 1)
    batches = training.DeviceLoader(train.x, train.y, batch_size=run.batch_size, seed=run.seed, drop_last=True,
                                    device=run.device)
    h = training.fit(model, lambda m, b: F.cross_entropy(m.head(m.encoder(b[0])), b[1]), batches, epochs=run.epochs,
                     lr=run.lr, schedule="cosine", warmup_steps=int(run.warmup_epochs * len(batches)),
                     device=run.device, progress=False)
    return h, model


NAMES = {"hue": "shape_hue", "bg_angle": "background_direction", "bg_hue": "background_hue",
         "hue_vs_bg": "hue_vs_background", "scale": "scale", "position": "position_3x3"}


def factor_labels(n: int, seed: int, train: bool) -> dict[str, torch.Tensor]:
    """The shapes generator's nuisance factors of a split, each cut into bins (shapes.factor_bins)."""
    bins = shapes.factor_bins(shapes.split_factors(n, seed, train=train))
    return {NAMES[k]: torch.from_numpy(v) for k, v in bins.items()}


def diagnose(z_train, z_test, train, test, factors: tuple[dict, dict] | None) -> dict:
    """kNN after centring / standardising / whitening, and what the k=8 neighbours share besides the class."""
    mean, std = z_train.mean(0), z_train.std(0).clamp_min(1e-6)
    u, s, v = torch.linalg.svd(z_train - mean, full_matrices=False)        # v: (D, D) principal directions
    white = v.T / (s / (len(z_train) - 1) ** 0.5).clamp_min(1e-6)           # (D, D): unit variance per direction
    views = {"cosine": (z_train, z_test), "centred": (z_train - mean, z_test - mean),
             "standardised": ((z_train - mean) / std, (z_test - mean) / std),
             "whitened": ((z_train - mean) @ white, (z_test - mean) @ white)}
    out = {"knn": {n: round(evaluation.knn(a, train.y, b, test.y), 4) for n, (a, b) in views.items()}}
    if factors is not None:
        ftr, fte = factors
        out["agreement"] = {"class": round(evaluation.neighbour_agreement(z_train, train.y, z_test, test.y,
                                                                          k=AGREEMENT_K), 4)}
        for name in ftr:
            out["agreement"][name] = round(evaluation.neighbour_agreement(z_train, ftr[name], z_test, fte[name],
                                                                          k=AGREEMENT_K), 4)
    return out


def chance(y_train: torch.Tensor, y_test: torch.Tensor) -> float:
    """Agreement of random neighbours: sum over labels of P(test label) * P(train label)."""
    n = int(max(y_train.max(), y_test.max())) + 1
    p, q = torch.bincount(y_train, minlength=n) / len(y_train), torch.bincount(y_test, minlength=n) / len(y_test)
    return round(float((p * q).sum()), 4)


def _parse_sets(items: list[str]) -> tuple[dict, dict]:
    """--set key=value pairs -> (budget overrides, augmentation overrides)."""
    budget, aug = {}, {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            pass  # a bare word: keep the string
        (aug if key.startswith("aug.") else budget)[key.removeprefix("aug.")] = value
    return budget, aug


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci", choices=["ci", "cpu", "gpu"])
    parser.add_argument("--notebook", default="09_evaluation", help="whose budget row (07_simclr, 09_evaluation)")
    parser.add_argument("--methods", default=None,
                        help="comma-separated methods (default: all of the registry, then simclr_no_colour); "
                             "'supervised' adds the encoder trained with the labels, as a reference")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a budget key (epochs=30) or an augmentation setting (aug.strength=1.0)")
    parser.add_argument("--diagnose", action="store_true", help="also what the neighbours share (see above)")
    parser.add_argument("--no-step-ratio", action="store_true", help="skip the SimCLR/supervised step timing")
    args = parser.parse_args()
    run = course_lib.setup(args.notebook, profile=args.profile)
    budget, aug = _parse_sets(args.set)
    if budget:
        run = dataclasses.replace(run, budget={**run.budget, **budget})
    names = args.methods.split(",") if args.methods else [*methods.METHODS, "simclr_no_colour"]
    train = data.load_images(run.dataset, train=True, n=run.n_train, seed=run.seed, size=run.image_size)
    test = data.load_images(run.dataset, train=False, n=run.n_test, seed=run.seed, size=run.image_size)
    factors = None
    if args.diagnose and run.dataset in ("shapes", "shapes_plain"):
        factors = factor_labels(len(train), run.seed, True), factor_labels(len(test), run.seed, False)
        assert torch.equal(torch.from_numpy(shapes.split_factors(len(train), run.seed)["y"]), train.y)

    def score(encoder) -> dict:
        z_train, z_test = evaluation.embed(encoder, train.x), evaluation.embed(encoder, test.x)
        s = {"probe": evaluation.linear_probe(z_train, train.y, z_test, test.y, seed=run.seed),
             "knn": evaluation.knn(z_train, train.y, z_test, test.y),
             "agreement": evaluation.neighbour_agreement(z_train, train.y, z_test, test.y, k=AGREEMENT_K)}
        if args.diagnose:
            s["diagnose"] = diagnose(z_train, z_test, train, test, factors)
        return s

    random = score(encoder_for(run))
    results = {}
    for name in names:
        if name == "supervised":  # a reference, not a method: the same encoder trained with all the labels
            h, model = supervised(run, train)
        else:
            model = build(run, name, train.x.shape[-1], aug)
            h = methods.train(model, train.x, epochs=run.epochs, batch_size=run.batch_size, lr=run.lr,
                              warmup_epochs=run.warmup_epochs, seed=run.seed, device=run.device, progress=False)
        results[name] = {**score(model.encoder), "images_per_s": len(h.losses) * run.batch_size / h.seconds}
        print(f"[time] {name}: {h.epochs_done} epochs in {h.seconds:.1f} s", flush=True)
    ratio = None if args.no_step_ratio or "simclr" not in names else step_ratio(run, train.x[:run.batch_size])

    print(f"\n{'method':<18}{'probe':>7}{'gain':>7}{'kNN':>7}{'gain':>7}{'agree@8':>9}{'images/s':>10}")
    print(f"{'random init':<18}{random['probe']:>7.1%}{'':>7}{random['knn']:>7.1%}{'':>7}{random['agreement']:>9.1%}")
    for name, r in results.items():
        print(f"{name:<18}{r['probe']:>7.1%}{100 * (r['probe'] - random['probe']):>+7.1f}{r['knn']:>7.1%}"
              f"{100 * (r['knn'] - random['knn']):>+7.1f}{r['agreement']:>9.1%}{r['images_per_s']:>10.0f}")
    if args.diagnose:
        rows = {"random init": random, **results}
        print("\nkNN accuracy (%) on the features as they are (cosine) and after a transform fitted on the training set")
        kinds = list(random["diagnose"]["knn"])
        print(f"{'method':<18}" + "".join(f"{k:>14}" for k in kinds))
        for name, r in rows.items():
            print(f"{name:<18}" + "".join(f"{100 * r['diagnose']['knn'][k]:>14.1f}" for k in kinds))
        if factors is not None:
            levels = {"class": chance(train.y, test.y), **{k: chance(factors[0][k], factors[1][k]) for k in factors[0]}}
            print(f"\nwhat the {AGREEMENT_K} nearest training images share with a test image (%; chance in the first row)")
            short = {k: k.replace("background", "bg").replace("position_", "pos") for k in levels}
            print(f"{'method':<18}" + "".join(f"{short[k]:>13}" for k in levels))
            print(f"{'chance':<18}" + "".join(f"{100 * v:>13.1f}" for v in levels.values()))
            for name, r in rows.items():
                print(f"{name:<18}" + "".join(f"{100 * r['diagnose']['agreement'][k]:>13.1f}" for k in levels))
    if ratio is not None:
        print(f"SimCLR step {1000 * ratio[0]:.1f} ms vs supervised step {1000 * ratio[1]:.1f} ms on the same "
              f"{run.batch_size} images: ratio {ratio[0] / ratio[1]:.2f}")
    pair = lambda key: {n: {"random": round(random[key], 4), "trained": round(r[key], 4)}  # noqa: E731
                        for n, r in results.items() if n not in ("simclr_no_colour", "supervised")}
    two_view = [n for n in results if n in methods.AUGMENTING]
    out = {"profile": run.profile, "notebook": args.notebook, "dataset": run.dataset, "encoder": run.encoder,
           "epochs": run.epochs, "overrides": {**budget, **{f"aug.{k}": v for k, v in aug.items()}},
           "probe": pair("probe"), "knn": pair("knn"),
           "neighbour_class_agreement": {n: round(results[n]["agreement"], 4) for n in two_view},
           "neighbour_class_agreement_random": round(random["agreement"], 4),
           "min_gain_two_view": {key: round(min(100 * (results[n][key] - random[key]) for n in two_view), 1)
                                 for key in ("probe", "knn")} if two_view else None,
           "images_per_s": {n: round(r["images_per_s"], 1) for n, r in results.items()}}
    if "supervised" in results:
        out["supervised_reference"] = {k: round(results["supervised"][k], 4) for k in ("probe", "knn", "agreement")}
    if "simclr_no_colour" in results:
        out["simclr_no_colour_probe"] = round(results["simclr_no_colour"]["probe"], 4)
    if ratio is not None:
        out.update({"simclr_step_ratio": round(ratio[0] / ratio[1], 3), "simclr_step_ms": round(1000 * ratio[0], 2),
                    "supervised_step_ms": round(1000 * ratio[1], 2)})
    if args.diagnose:
        out["diagnose"] = {n: r["diagnose"] for n, r in {"random init": random, **results}.items()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()

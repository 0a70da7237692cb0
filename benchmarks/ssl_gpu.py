"""Self-supervised training at recipe scale on one GPU or several (torchrun): images/s, wall time and kNN per epoch.

    python benchmarks/ssl_gpu.py --method simclr --epochs 100 --dataset cifar10 [--compile] [--resume]
    python benchmarks/ssl_gpu.py --method byol --epochs 1 --dataset shapes --n-train 512 --encoder convnet  # smoke test on CPU
    python benchmarks/ssl_gpu.py --dry-run  # on CPU, no GPU needed: the checks below, in a few minutes
    torchrun --nproc_per_node=4 benchmarks/ssl_gpu.py --method simclr --batch-size 1024  # 4 GPUs, DDP
    torchrun --nproc_per_node=2 benchmarks/ssl_gpu.py --notebook 07_simclr  # a notebook's model, 2 GPUs

The GPU path the `gpu` profile uses: ResNet-18 (CIFAR stem), the batched device augmentations of
course_lib.vision.augment, bf16 autocast, channels_last, optional torch.compile, data held on the
device (training.DeviceLoader), the loss read back every 25 steps, and a checkpoint after every
epoch (--resume continues from it). kNN: k=200, cosine similarity, weighted vote (Wu et al. 2018).
Goal (issue 10): SimCLR at 85% kNN accuracy on CIFAR-10 within 10 minutes on one H100.
Under torchrun (course_lib.distributed) each GPU trains on its shard of the data with batch-size / N
images per step (--batch-size is the global batch), DDP averages the gradients, BatchNorm is
synchronised and SimCLR/MoCo gather their negatives from every GPU; rank 0 logs, evaluates and saves.
Prints a table, then one JSON object of the same figures as the last line.

--dry-run proves the GPU path on a CPU before anyone pays for a GPU, and prints as JSON:
"on_run_device" (notebook -> every fit/embed/probe call on the run's device, from the shrunk gpu-profile
run of tests/gpu_smoke.py), "syncs_per_step" (method -> host-device syncs in one training step,
course_lib.syncs), "ddp_max_abs_diff" (2 gloo ranks vs one process, course_lib.distributed),
"flops_per_image" (method -> GFLOP per image per training step, ResNet-18 at 32 px) and
"t4_minutes" (notebook -> estimated minutes of its gpu row on a T4, course_lib.budgets).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import course_lib
from course_lib import budgets, data, distributed, evaluation, profiles, runtime, syncs, training
from course_lib.vision import augment, encoders, methods


def parse_args() -> argparse.Namespace:
    """Command-line options (defaults: SimCLR on CIFAR-10 at the recipe's batch size)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", default="simclr", choices=["simclr", "moco", "byol", "simsiam"])  # augmenting methods
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--dataset", default="cifar10", choices=list(data.IMAGE_DATASETS))
    p.add_argument("--encoder", default="resnet18", choices=list(encoders.ENCODERS))
    p.add_argument("--width", type=int, default=32, help="ConvEncoder width (ignored for resnet18)")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=2e-3, help="AdamW peak learning rate (warmup + cosine)")
    p.add_argument("--warmup-epochs", type=float, default=2.0)
    p.add_argument("--n-train", type=int, default=None, help="subset of the training split (default: all)")
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--size", type=int, default=None, help="resize images to this side (default: native)")
    p.add_argument("--knn-every", type=int, default=1, help="evaluate kNN every this many epochs")
    p.add_argument("--compile", action="store_true", help="torch.compile the encoder (first epoch pays compilation)")
    p.add_argument("--no-amp", action="store_true", help="train in float32 instead of bf16 autocast")
    p.add_argument("--checkpoint", type=Path, default=None, help="checkpoint file (default: under the data cache)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint if it exists")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dry-run", action="store_true", help="no training: prove the gpu path on this CPU (see above)")
    p.add_argument("--notebook", default=None,
                   help="build the model as this notebook's profile does (e.g. 07_simclr): encoder, tau, queue, "
                        "augmentations; data and training recipe still come from the options above")
    return p.parse_args()


def log(*args, **kwargs) -> None:
    """print() on rank 0 only: under torchrun every rank runs this script."""
    if distributed.is_main():
        print(*args, **kwargs)


def build_model(args: argparse.Namespace, device: torch.device) -> torch.nn.Module:
    """The method to train, on the device: from --notebook's profile or from the options; under torchrun, DDP."""
    if args.notebook:
        model = methods.build_for(course_lib.setup(args.notebook, seed=args.seed, quiet=True), args.method)
    else:
        kw = {} if args.encoder == "resnet18" else {"width": args.width}
        encoder = encoders.make_encoder(args.encoder, **kw)
        queue = max(args.batch_size, 4096 // args.batch_size * args.batch_size)  # a multiple of the global batch
        model = methods.build(args.method, encoder, **({"queue_size": queue} if args.method == "moco" else {}))
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)  # as fit() does; DDP must see the final layout
    if args.compile:
        model.encoder.compile()  # in place: the state_dict keys (and so checkpoints) stay the same
    return distributed.ddp(model)  # torchrun: SyncBatchNorm + DDP; one process: the model itself


def augmentation_cost(x: torch.Tensor, model: torch.nn.Module, device: torch.device) -> tuple[float, float]:
    """Seconds per batch for making both views vs for one full training step of the method (synchronised)."""
    aug = getattr(model, "augment", None) or augment.simclr_augment()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)

    def timed(fn, reps: int = 5) -> float:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - start) / reps

    dtype = training.amp_dtype(device)

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):  # as fit() does
            loss = model.loss(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()

    return timed(lambda: (aug(x), aug(x))), timed(step)


def dry_run() -> dict:
    """The --dry-run checks, on this machine's CPU; returns the JSON figures (and prints a table)."""
    import sys
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import gpu_smoke  # tests/gpu_smoke.py: fake data over loopback, shrunk gpu profile, device spy

    notebooks = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    on_device = {}
    with gpu_smoke.fake_data_server() as (base, sums), tempfile.TemporaryDirectory() as tmp:
        env = gpu_smoke.environment(Path(tmp), base, sums)
        for stem, result in gpu_smoke.run_all(notebooks, Path(tmp), env).items():
            on_device[stem] = result.on_run_device
            print(f"[time] {stem:<28} gpu path on CPU: {'ok' if result.on_run_device else 'FAILED'} "
                  f"({len(result.calls)} device calls, {result.seconds:.0f} s)", flush=True)
    gpu_row = profiles.budget("09_evaluation", "gpu")
    syncs_per_step, flops = {}, {}
    for name in methods.METHODS:
        options = {"augment_fn": methods.augment_for(argparse.Namespace(**gpu_row))} if name in methods.AUGMENTING else {}
        model = methods.build(name, encoders.make_encoder("convnet", width=8), image_size=32, **options)
        report = syncs.count_syncs(model, torch.rand(8, 3, 32, 32))
        syncs_per_step[name] = report.count
        flops[name] = round(budgets.flops_per_image(name) / 1e9, 3)
        print(f"{name:<18} syncs per step {report.count}{'' if report.complete else ' (at least)'}   "
              f"{flops[name]:6.2f} GFLOP per image per step (ResNet-18, 32 px)")
    diff = distributed.ddp_max_abs_diff()
    print(f"DDP, 2 gloo ranks vs one process: largest loss/gradient difference {diff:.2e}")
    t4 = {nb: round(budgets.t4_minutes(nb, profiles.budget(nb, "gpu")), 1)
          for nb in ("07_simclr", "08_moco_byol_simsiam", "09_evaluation")}
    for nb, minutes in t4.items():
        print(f"{nb:<22} gpu row: about {minutes:.0f} min on a T4 (banner: {profiles.budget(nb, 'gpu')['expected_min']:g})")
    return {"on_run_device": on_device, "syncs_per_step": syncs_per_step, "ddp_max_abs_diff": diff,
            "flops_per_image": flops, "t4_minutes": t4}


def main() -> None:
    args = parse_args()
    if args.dry_run:
        print(json.dumps(dry_run()))
        return
    device = distributed.init()  # torchrun: join the other ranks, one GPU each; else cuda or cpu
    world = distributed.world_size()
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size} does not split evenly over {world} processes")
    runtime.seed_everything(args.seed)
    name, note = data.resolve_dataset(args.dataset)
    if note:
        log(f"[data] {note}")
    with distributed.main_first():  # rank 0 fills the data cache, then the others read it
        train = data.load_images(name, train=True, n=args.n_train, seed=args.seed, size=args.size)
        test = data.load_images(name, train=False, n=args.n_test, seed=args.seed, size=args.size)
    # The whole set (one process) or this rank's shard on the device: batches are index_select slices.
    x_train = distributed.shard(train.x, args.seed).to(device)
    batch_size = args.batch_size // world  # per rank
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        x_train = x_train.contiguous(memory_format=torch.channels_last)

    model = build_model(args, device)
    if world > 1:
        torch.manual_seed(args.seed + distributed.rank())  # the model is built: now each rank its own augmentations
    aug_s, step_s = augmentation_cost(x_train[:batch_size], model, device)

    ddp = f"_ddp{world}" if world > 1 else ""  # DDP's state_dict keys differ from one process's
    tag = args.notebook or args.encoder
    ckpt = args.checkpoint or data.cache_dir() / "checkpoints" / f"ssl_gpu_{args.method}_{name}_{tag}{ddp}.pt"
    with distributed.main_first():  # the others wait, so none resumes from a file about to go
        if distributed.is_main() and not args.resume and ckpt.exists():
            ckpt.unlink()  # a fresh run unless --resume
    rows: list[dict] = []
    state = {"t0": time.perf_counter(), "eval_s": 0.0, "last_wall": 0.0, "last_step": 0}
    steps_per_epoch = len(x_train) // batch_size

    def per_epoch(m: torch.nn.Module, step: int, total: int) -> None:
        """After the last step of each epoch, on rank 0: synchronise once, time it, and evaluate kNN."""
        if step % steps_per_epoch or not distributed.is_main():
            return
        if device.type == "cuda":
            torch.cuda.synchronize()
        epoch = step // steps_per_epoch
        wall = time.perf_counter() - state["t0"] - state["eval_s"]
        # Throughput of this epoch alone (evaluation time excluded).
        rate = (step - state["last_step"]) * args.batch_size / max(wall - state["last_wall"], 1e-9)
        state["last_wall"], state["last_step"] = wall, step
        row = {"epoch": epoch, "wall_s": round(wall, 1), "images_per_s": round(rate, 1)}
        if epoch % args.knn_every == 0 or epoch == args.epochs:
            t = time.perf_counter()
            z_train = evaluation.embed(m.encoder, train.x, device=device)
            z_test = evaluation.embed(m.encoder, test.x, device=device)
            row["knn"] = round(evaluation.knn(z_train, train.y, z_test, test.y, k=200, temperature=0.1), 4)
            m.train()
            state["eval_s"] += time.perf_counter() - t
        rows.append(row)
        print(f"[time] epoch {epoch:>4}  {row['images_per_s']:>10,.0f} img/s  {row['wall_s']:>8.1f} s  "
              f"kNN {row.get('knn', float('nan')):.2%}", flush=True)

    amp = device.type == "cuda" and not args.no_amp
    if ckpt.exists():
        state["last_step"] = torch.load(ckpt, map_location="cpu", weights_only=False)["epoch"] * steps_per_epoch
    model_name = f"notebook {args.notebook}'s model" if args.notebook else args.encoder
    log(f"[course] {args.method} on {name} ({len(train)} train / {len(test)} test images, "
        f"{tuple(train.x.shape[1:])}), {model_name}, batch {args.batch_size}"
        f"{f' ({batch_size} on each of {world} processes, DDP)' if world > 1 else ''}, device {device}, "
        f"amp={str(training.amp_dtype(device)).replace('torch.', '') if amp else 'off (float32' + (')' if args.no_amp else ': autocast only on CUDA)')}, "
        f"compile={args.compile}")
    log(f"[time] augmentation (both views) {1000 * aug_s:.1f} ms/batch vs full training step "
        f"{1000 * step_s:.1f} ms/batch ({100 * aug_s / step_s:.0f}% of it)")
    methods.train(model, x_train, epochs=args.epochs, batch_size=batch_size, lr=args.lr,
                  warmup_epochs=args.warmup_epochs, seed=args.seed, device=device,
                  checkpoint=ckpt,  # every rank resumes from it, rank 0 writes it (training.fit)
                  amp=amp, callback=per_epoch, progress=False)
    final = rows[-1] if rows else {}
    log(f"\n{'epoch':>6} {'img/s':>10} {'wall s':>8} {'kNN':>7}")
    for r in rows:
        log(f"{r['epoch']:>6} {r['images_per_s']:>10,.0f} {r['wall_s']:>8.1f} "
            f"{r.get('knn', float('nan')):>7.2%}")
    log(json.dumps({"method": args.method, "dataset": name, "encoder": None if args.notebook else args.encoder,
                    "notebook": args.notebook,
                    "device": str(device), "processes": world,
                    "batch_size": args.batch_size, "epochs": args.epochs, "compile": args.compile,
                    "amp": amp, "augment_ms": round(1000 * aug_s, 2),
                    "step_ms": round(1000 * step_s, 2), "per_epoch": rows,
                    "final_knn": final.get("knn"), "wall_s": final.get("wall_s")}))
    distributed.shutdown()


if __name__ == "__main__":
    main()

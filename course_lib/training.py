"""One training loop for every notebook: progress bar, loss history, time budget, AMP, checkpoints.

Speed on a GPU, decided here and nowhere else (``fit`` applies all of it when the device is CUDA):

- precision by compute capability (``amp_dtype``): bf16 autocast from capability 8 on (A100, H100,
  RTX 30xx and newer); fp16 autocast with a GradScaler below it (T4, V100), where bf16 is emulated
  and slow although ``torch.cuda.is_bf16_supported()`` says True; float32 on the CPU;
- channels_last memory format for the model and image batches, and ``cudnn.benchmark`` on (every
  batch of a run has the same shape, so the autotuner's choice is reused);
- AdamW with the fused CUDA kernel (one launch per step instead of several per parameter);
- the loss read back to the host every ``sync_every`` steps (25), never per step: nothing else in a
  step waits for the GPU (``course_lib.syncs`` counts it for every method, tests/test_syncs.py);
- optional ``torch.compile``: ``methods.train(..., compile=True)`` compiles the encoder and the
  augmentations (the first epoch pays the compilation).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from . import distributed, runtime


@dataclass
class History:
    """What fit() measured: the loss of every step, the mean loss of every epoch, and the time taken."""

    losses: list[float] = field(default_factory=list)        # one per optimisation step
    # One mean per epoch; an epoch cut short by the time budget adds the mean of the steps it ran.
    epoch_losses: list[float] = field(default_factory=list)
    epochs_done: int = 0
    seconds: float = 0.0
    stopped_by_budget: bool = False

    def __repr__(self) -> str:
        # A short summary: the default repr would print every step's loss in a notebook cell.
        last = f"{self.losses[-1]:.4f}" if self.losses else "n/a"
        return (f"History(epochs_done={self.epochs_done}, steps={len(self.losses)}, last_loss={last}, "
                f"seconds={self.seconds:.1f}, stopped_by_budget={self.stopped_by_budget})")


def loader(*tensors: torch.Tensor, batch_size: int, shuffle: bool = True, seed: int = 0,
           drop_last: bool = False) -> DataLoader:
    """A DataLoader over tensors of equal length whose shuffling order depends only on `seed`."""
    if not tensors:
        raise ValueError("loader() needs at least one tensor, e.g. loader(x, y, batch_size=256)")
    sizes = {len(t) for t in tensors}
    if len(sizes) != 1:
        raise ValueError(f"all tensors must have the same first dimension, got {[len(t) for t in tensors]}")
    generator = torch.Generator().manual_seed(seed)
    # num_workers=0: the data already sits in memory, and worker processes only cost start-up time.
    return DataLoader(TensorDataset(*tensors), batch_size=batch_size, shuffle=shuffle,
                      drop_last=drop_last, generator=generator, num_workers=0)


class DeviceLoader:
    """Batches sliced from tensors already on the device, in a shuffled order that depends only on `seed`.

    The per-sample TensorDataset path of a DataLoader indexes and stacks every example in Python;
    for small images that costs more than a small CNN's step. Here each epoch draws one permutation
    and every batch is a single index_select on the device.
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, device: torch.device | str | None = None) -> None:
        if not tensors:
            raise ValueError("DeviceLoader needs at least one tensor, e.g. DeviceLoader(x, batch_size=256)")
        if len({len(t) for t in tensors}) != 1:
            raise ValueError(f"all tensors must have the same first dimension, got {[len(t) for t in tensors]}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        n = len(tensors[0])
        if drop_last and n < batch_size:
            raise ValueError(f"drop_last=True with {n} examples and batch_size={batch_size} gives no batch at all; "
                             "use a smaller batch_size")
        self.tensors = tuple(t.to(device) if device is not None else t for t in tensors)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.generator = torch.Generator().manual_seed(seed)  # on the CPU: same order on every device
        # Sampling weights (N,), settable between epochs: each epoch then draws N examples with replacement
        # in proportion to them instead of a permutation (DeepCluster's uniform sampling over clusters).
        self.weights: torch.Tensor | None = None

    def __len__(self) -> int:
        n = len(self.tensors[0])
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.tensors[0])
        if self.weights is not None:
            order = torch.multinomial(self.weights.float().cpu(), n, replacement=True, generator=self.generator)
        else:
            order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.tensors[0].device)
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]  # (B,)
            yield tuple(t.index_select(0, idx) for t in self.tensors)


def warmup_cosine(step: int, total_steps: int, warmup_steps: int = 0) -> float:
    """Learning-rate factor at `step`: linear warmup from ~0 to 1 over warmup_steps, then cosine decay to 0."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """Autocast dtype on this device: bf16 from compute capability 8, fp16 below (with a GradScaler), None on CPU."""
    if device.type != "cuda":
        return None
    major, _ = torch.cuda.get_device_capability(device)
    return torch.bfloat16 if major >= 8 else torch.float16


def _to_device(batch, device: torch.device, channels_last: bool) -> tuple:
    """Move every tensor of a batch to the device (channels_last for images on CUDA)."""
    if isinstance(batch, torch.Tensor):
        batch = (batch,)
    out = []
    for t in batch:
        if isinstance(t, torch.Tensor):
            t = t.to(device, non_blocking=True)
            if channels_last and t.dim() == 4:
                t = t.contiguous(memory_format=torch.channels_last)
        out.append(t)
    return tuple(out)


def _load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> History:
    """Restore model and optimizer from a checkpoint written by fit() and return its history."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        return History(**state["history"])
    except Exception as err:  # a truncated file or another model's weights: say which file to delete
        raise RuntimeError(f"could not resume from checkpoint {path} ({type(err).__name__}: {err}). "
                           "It is corrupt or belongs to a different model; delete it to start "
                           "training from scratch.") from err


def _save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                     history: History) -> None:
    """Write the checkpoint to a temporary file first so a crash never leaves a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "history": asdict(history), "epoch": history.epochs_done}, tmp)
    os.replace(tmp, path)


def fit(model: nn.Module, loss_fn: Callable[[nn.Module, tuple], torch.Tensor], loader: DataLoader, *,
        epochs: int, lr: float = 1e-3, optimizer: torch.optim.Optimizer | None = None,
        time_budget_s: float | None = None, device: torch.device | str | None = None,
        amp: bool | None = None, checkpoint: str | os.PathLike | None = None, desc: str = "train",
        progress: bool = True, on_step: Callable[[nn.Module, int, int], None] | None = None,
        schedule: str | None = None, warmup_steps: int = 0, sync_every: int | None = None) -> History:
    """Train `model` by minimising loss_fn(model, batch) over `loader` for `epochs` epochs.

    on_step(model, step, total_steps) runs after every optimiser step (e.g. a momentum/EMA update);
    schedule="cosine" scales lr by linear warmup over warmup_steps then cosine decay to 0; the loss
    is read back to the host every sync_every steps (default: every step on CPU, every 25 on GPU).
    `time_budget_s` stops training early (and prints a line saying so); in the ci profile it is only a
    safety net, so that the number of epochs, not the machine's load, decides what is learned.
    """
    if schedule not in (None, "cosine"):
        raise ValueError(f"unknown schedule {schedule!r}; use None (constant lr) or 'cosine' (warmup + cosine)")
    if len(loader) == 0:
        raise ValueError("the loader yields no batches (too few examples for drop_last=True?)")
    device = runtime.resolve_device(device, model)
    model.to(device)
    on_cuda = device.type == "cuda"
    dtype = amp_dtype(device)
    amp = dtype is not None and (amp is None or amp)  # autocast only pays off on a GPU
    scaler = torch.amp.GradScaler("cuda", enabled=amp and dtype == torch.float16)
    if on_cuda:
        model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    if optimizer is None:
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                                      fused=True if on_cuda else None)
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    sync_every = max(1, sync_every if sync_every is not None else (25 if on_cuda else 1))

    ckpt = Path(checkpoint) if checkpoint is not None else None
    history = _load_checkpoint(ckpt, model, optimizer) if ckpt is not None and ckpt.exists() else History()
    history.stopped_by_budget = False
    # The budget limits this call (a re-run cell gets its full budget); .seconds adds up across resumes.
    start, seconds_before = time.perf_counter(), history.seconds

    model.train()
    steps_per_epoch = len(loader)
    total_steps = epochs * steps_per_epoch
    pending: list[torch.Tensor] = []  # losses still on the device, read back every sync_every steps

    def sync(epoch: int) -> float:
        """Read the pending losses back to the host, check them, and add them to the history."""
        values = torch.stack(pending).float().tolist() if pending else []
        pending.clear()
        for value in values:
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"loss became {value} at step {len(history.losses)} (epoch {epoch}); the "
                    f"training diverged. Try a lower learning rate (now lr={optimizer.param_groups[0]['lr']:g}) or check the inputs.")
            history.losses.append(value)
        return sum(values)
    # mininterval=1: a redraw a second is enough to watch, and each redraw of Lab's widget bar is a few
    # kernel messages (at tqdm's default 0.1 s, a 4-minute cell sent about 5000)
    bar = tqdm(total=max(0, epochs - history.epochs_done) * steps_per_epoch, desc=desc, disable=not progress,
               mininterval=1.0)
    try:
        for epoch in range(history.epochs_done, epochs):
            epoch_sum, epoch_steps = 0.0, 0
            for batch in loader:
                if time_budget_s is not None and time.perf_counter() - start > time_budget_s:
                    history.stopped_by_budget = True
                    break
                step = len(history.losses) + len(pending)  # global step, counted across resumes
                if schedule == "cosine":
                    factor = warmup_cosine(step, total_steps, warmup_steps)
                    for group, base in zip(optimizer.param_groups, base_lrs):
                        group["lr"] = base * factor
                batch = _to_device(batch, device, channels_last=on_cuda)
                with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=amp):
                    loss = loss_fn(model, batch)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                if on_step is not None:
                    on_step(model, step + 1, total_steps)
                pending.append(loss.detach())
                epoch_steps += 1
                if len(pending) >= sync_every:
                    epoch_sum += sync(epoch)
                    # refresh=False: the bar redraws at its own pace, not on every step
                    bar.set_postfix(epoch=epoch, loss=f"{epoch_sum / epoch_steps:.4f}", refresh=False)
                bar.update(1)
            epoch_sum += sync(epoch)
            if epoch_steps:
                history.epoch_losses.append(epoch_sum / epoch_steps)
            if history.stopped_by_budget:
                break  # a partial epoch is not counted as done, and not checkpointed as done
            history.epochs_done = epoch + 1
            history.seconds = seconds_before + time.perf_counter() - start
            if ckpt is not None and distributed.is_main():  # under torchrun every rank resumes, rank 0 saves
                _save_checkpoint(ckpt, model, optimizer, history)
    finally:
        bar.close()
    history.seconds = seconds_before + time.perf_counter() - start
    if history.stopped_by_budget:
        # Never silent: a cut run prints figures that differ from a full one (profiles.py's rule).
        print(f"[course] {desc}: time budget of {time_budget_s:g} s reached after {history.epochs_done} of "
              f"{epochs} epochs ({len(history.losses)} steps); training was CUT, so what follows comes "
              "from a shorter run than the profile sets")
    return history

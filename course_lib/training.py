"""One training loop for every notebook: progress bar, loss history, time budget, AMP, checkpoints."""
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
        progress: bool = True) -> History:
    """Train `model` by minimising loss_fn(model, batch) over `loader` for `epochs` epochs.

    `time_budget_s` stops training early (and prints a line saying so); in the ci profile it is only a
    safety net, so that the number of epochs, not the machine's load, decides what is learned.
    """
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    device = torch.device(device)
    model.to(device)
    on_cuda = device.type == "cuda"
    amp = on_cuda if amp is None else (amp and on_cuda)  # autocast only pays off on a GPU
    # bf16 needs no loss scaling; older GPUs without bf16 fall back to fp16 with a GradScaler.
    amp_dtype = torch.bfloat16 if on_cuda and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)
    if on_cuda:
        model.to(memory_format=torch.channels_last)
    if optimizer is None:
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr)

    ckpt = Path(checkpoint) if checkpoint is not None else None
    history = _load_checkpoint(ckpt, model, optimizer) if ckpt is not None and ckpt.exists() else History()
    history.stopped_by_budget = False
    # The budget limits this call (a re-run cell gets its full budget); .seconds adds up across resumes.
    start, seconds_before = time.perf_counter(), history.seconds

    model.train()
    steps_per_epoch = len(loader)
    bar = tqdm(total=max(0, epochs - history.epochs_done) * steps_per_epoch, desc=desc, disable=not progress)
    try:
        for epoch in range(history.epochs_done, epochs):
            epoch_sum, epoch_steps = 0.0, 0
            for batch in loader:
                if time_budget_s is not None and time.perf_counter() - start > time_budget_s:
                    history.stopped_by_budget = True
                    break
                batch = _to_device(batch, device, channels_last=on_cuda)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
                    loss = loss_fn(model, batch)
                value = loss.item()
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"loss became {value} at step {len(history.losses)} (epoch {epoch}); the "
                        f"training diverged. Try a lower learning rate (now lr={optimizer.param_groups[0]['lr']:g}) or check the inputs.")
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                history.losses.append(value)
                epoch_sum, epoch_steps = epoch_sum + value, epoch_steps + 1
                # refresh=False: the bar redraws at its own pace, not on every step
                bar.set_postfix(epoch=epoch, loss=f"{epoch_sum / epoch_steps:.4f}", refresh=False)
                bar.update(1)
            if epoch_steps:
                history.epoch_losses.append(epoch_sum / epoch_steps)
            if history.stopped_by_budget:
                break  # a partial epoch is not counted as done, and not checkpointed as done
            history.epochs_done = epoch + 1
            history.seconds = seconds_before + time.perf_counter() - start
            if ckpt is not None:
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

"""``setup(notebook)``: pick the profile, device and seed, look up the budgets, print one banner."""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
import torch

from . import profiles


@dataclass(frozen=True)
class Run:
    """Everything a notebook needs to know about this run; budget keys read as attributes."""

    notebook: str
    profile: str
    device: torch.device
    seed: int
    dataset: str | None
    budget: Mapping[str, Any] = field(repr=False)
    notes: tuple[str, ...] = ()
    profile_source: str = ""

    def __getattr__(self, key: str) -> Any:
        # Only called when normal lookup fails: expose the budget row (run.n_train, run.epochs...).
        budget = object.__getattribute__(self, "budget")
        if key in budget:
            return budget[key]
        raise AttributeError(f"run has no setting {key!r}; this notebook's settings are: "
                             f"{', '.join(sorted(budget))}")

    def banner(self) -> str:
        """The one line ``setup`` prints."""
        parts = [f"[course] {self.notebook}", f"profile={self.profile}" + (f" ({self.profile_source})" if self.profile_source else ""), f"device={self.device}",
                 (f"dataset={self.dataset}" if self.dataset is not None or "corpus" not in self.budget
                  else f"corpus={self.budget['corpus']}"), f"seed={self.seed}",
                 f"expected ~{self.budget.get('expected_min', '?')} min"]
        return " | ".join(parts) + "".join(f"\n[course] note: {n}" for n in self.notes)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_profile(profile: str | None = None) -> tuple[str, str]:
    """Return (profile, why): argument, else $COURSE_PROFILE, else gpu with CUDA, else cpu."""
    if profile is not None:
        return profile, "argument"
    if os.environ.get("COURSE_PROFILE"):
        return os.environ["COURSE_PROFILE"].strip().lower(), "COURSE_PROFILE"
    return ("gpu", "CUDA found") if torch.cuda.is_available() else ("cpu", "no CUDA")


_current: Run | None = None  # the last run set up in this process: the library's device default


def pick_device() -> torch.device:
    """$COURSE_DEVICE if set (e.g. cuda:1, cpu), else cuda when CUDA is there, else cpu."""
    forced = os.environ.get("COURSE_DEVICE", "").strip()
    if forced:
        try:
            return torch.device(forced)
        except RuntimeError as err:
            raise ValueError(f"COURSE_DEVICE={forced!r} is not a device: use e.g. cuda, cuda:1 or cpu") from err
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: torch.device | str | None = None, module: torch.nn.Module | None = None) -> torch.device:
    """The device a library call computes on: the argument, else the current run's, else the module's, else cpu.

    Every call that trains or evaluates (training.fit, methods.train, evaluation.embed, linear_probe,
    knn, finetune) asks this one function, so a notebook never has to pass device=run.device.
    """
    if device is not None:
        return torch.device(device)
    if _current is not None:
        return _current.device
    param = next(module.parameters(), None) if module is not None else None
    return param.device if param is not None else torch.device("cpu")


def setup(notebook: str, *, profile: str | None = None, seed: int = 0, quiet: bool = False) -> Run:
    """Configure a notebook's run: profile, device, seeds, budgets and dataset; print a banner.

    The run becomes the library's default device (``resolve_device``). $COURSE_DEVICE picks a device
    by hand; $COURSE_SHRINK=1 shrinks the row to a smoke test's sizes (profiles.shrink).
    """
    global _current
    name, why = pick_profile(profile)
    row = profiles.budget(notebook, name)  # raises a clear ValueError for unknown names
    notes: list[str] = []
    if os.environ.get("COURSE_SHRINK", "").strip() not in ("", "0"):
        row = profiles.shrink(row)
        notes.append("COURSE_SHRINK is set: tiny sizes and 1 epoch, to test the code path, not to learn")
    device = pick_device()
    if name == "gpu" and device.type != "cuda":
        notes.append("profile gpu without CUDA: this will be slow; try COURSE_PROFILE=cpu")
    dataset = row.get("dataset")
    if dataset is not None:
        from .data import resolve_dataset  # imported here: the data layer is heavier than setup

        dataset, note = resolve_dataset(dataset)
        row["dataset"] = dataset
        if note:
            notes.append(note)
    note = profiles.budget_note(name, row)
    if note:
        notes.append(note)
    seed_everything(seed)
    run = Run(notebook=notebook, profile=name, device=device, seed=seed, dataset=dataset,
              budget=MappingProxyType(row), notes=tuple(notes), profile_source=why)
    _current = run
    if not quiet:
        print(run.banner())
    return run

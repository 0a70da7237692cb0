"""Count the host-device synchronisations of one training step, on the CPU, without a GPU.

A GPU runs ahead of Python: kernels are queued and Python goes on. Anything that needs a value
on the host (``.item()``, ``nonzero``, boolean-mask indexing, a matrix inverse that checks its
input) or that copies host data to the device waits for the queue to drain, and the GPU idles.

``count_syncs(model, x)`` runs one step of a registered method (loss, backward, optimiser step,
momentum update) on the ``meta`` device, which stands in for the accelerator: meta tensors carry
shapes and devices but no data, so forward and backward run in milliseconds on any machine. A
dispatch mode watches every operator and counts

- operators that read a device value on the host (``SYNC_OPS``, and indexing with a boolean mask);
- copies between the host and the device (a tensor created from Python data or on the CPU and then
  moved, e.g. random numbers drawn with a CPU generator inside the step);
- operators that mix host and device tensors (they copy one side implicitly).

An operator that needs data cannot run on meta tensors, so counting stops at the first such one
(the report then says ``complete=False``; the count is a lower bound). A step with count 0 is
complete. The loss read that ``training.fit`` does every ``sync_every`` steps is outside the step
and is not counted.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

DEVICE = torch.device("meta")  # the stand-in for the accelerator
_aten = torch.ops.aten
# Operators whose CUDA implementation reads a device value on the host.
SYNC_OPS = {_aten._local_scalar_dense, _aten.nonzero, _aten.masked_select, _aten.is_nonzero, _aten.equal,
            _aten._unique2, _aten.unique_consecutive, _aten.unique_dim, _aten.repeat_interleave,
            _aten.linalg_inv_ex, _aten.linalg_cholesky_ex, _aten.linalg_solve_ex, _aten.masked_scatter}
_CREATORS = {torch.tensor, torch.as_tensor, torch.Tensor.new_tensor}  # Python data -> device tensor = a copy


class _StopStep(Exception):
    """Raised to end the step at an operator that needs data meta tensors do not have."""


@dataclass
class SyncReport:
    """What count_syncs found: how many syncs, which operators, and whether the whole step ran."""

    count: int = 0
    ops: list[str] = field(default_factory=list)
    complete: bool = True
    dispatched: int = 0   # operators dispatched in the step (a rough count of kernel launches)

    def add(self, what: str) -> None:
        self.count += 1
        self.ops.append(what)


class _Creations(TorchFunctionMode):
    """Counts tensors built from Python data straight onto the device (a host-to-device copy each)."""

    def __init__(self, report: SyncReport) -> None:
        super().__init__()
        self.report = report

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        data = args[1] if func is torch.Tensor.new_tensor and len(args) > 1 else (args[0] if args else None)
        if func in _CREATORS and isinstance(out, torch.Tensor) and out.device.type == DEVICE.type \
                and not isinstance(data, torch.Tensor):
            self.report.add(f"{getattr(func, '__name__', func)} from Python data -> device")
        return out


class _Watch(TorchDispatchMode):
    """Counts the operators of a step that make the host wait for the device."""

    def __init__(self, report: SyncReport) -> None:
        super().__init__()
        self.report = report

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.report.dispatched += 1
        packet = func.overloadpacket
        tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        on_device = any(t.device.type == DEVICE.type for t in tensors)
        on_host = any(t.device.type == "cpu" and t.dim() > 0 for t in tensors)  # 0-dim CPU scalars are free
        if packet in SYNC_OPS and on_device:
            self.report.add(f"{func} reads a device value on the host")
            raise _StopStep
        if packet in (_aten.index, _aten.index_put, _aten.index_put_) and any(
                isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in (args[1] or [])):
            self.report.add(f"{func} with a boolean mask (nonzero inside)")
            raise _StopStep
        if packet is _aten._to_copy and kwargs.get("device") is not None \
                and torch.device(kwargs["device"]).type != args[0].device.type and args[0].dim() > 0:
            self.report.add(f"{func} {args[0].device.type} -> {torch.device(kwargs['device']).type}")
        elif packet is _aten.copy_ and args[0].device.type != args[1].device.type and args[1].dim() > 0:
            self.report.add(f"{func} {args[1].device.type} -> {args[0].device.type}")
        elif on_device and on_host:
            self.report.add(f"{func} mixes host and device tensors")
        return func(*args, **kwargs)


def count_syncs(model: nn.Module, x: torch.Tensor, *, optimizer: torch.optim.Optimizer | None = None,
                step: int = 1, total_steps: int = 10) -> SyncReport:
    """Syncs in one training step of a registered method on images x: loss, backward, AdamW step, momentum update.

    The model and x are moved to the meta device first (the model in place: pass a model you no
    longer need). The optimiser defaults to AdamW with foreach kernels, as on a GPU.
    """
    from .vision import methods  # imported here: the counter itself needs only torch

    if callable(getattr(model, "refresh", None)):
        model.refresh(x, 0)   # targets from the whole set (DeepCluster's clusters): computed once, before any step
    model.to(DEVICE)
    x = x.to(DEVICE)
    if optimizer is None:
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, foreach=True)
    report = SyncReport()
    try:
        with _Creations(report), _Watch(report):
            methods.plain_step(model, x, optimizer, step, total_steps)
    except _StopStep:
        report.complete = False
    return report


def count_dispatched(fn, *args, **kwargs) -> int:
    """Operators dispatched by fn(*args, **kwargs) (e.g. a momentum update: one per parameter, or a few foreach ops)."""
    report = SyncReport()
    with _Watch(report):
        fn(*args, **kwargs)
    return report.dispatched

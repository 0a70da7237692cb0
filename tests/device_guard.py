"""CUDA's device rules on a CPU: catch a notebook that mixes the run's device with the CPU.

On a CPU, a tensor "on" the smoke test's device ``cpu:0`` and one left on ``cpu`` live in the same
memory, so ``model(x_cpu)`` or ``z.masked_fill(torch.eye(n, dtype=torch.bool), ...)`` just works;
on CUDA both raise. ``install(device)`` makes them raise here too. A ``TorchFunctionMode`` follows
which tensors are bound for the run's device:

- a tensor is *on the device* when it was moved there (``.to(device)``, a module's ``.to``), made
  there (a factory or ``*_like`` call with ``device=`` the run's device), or computed from tensors
  on the device (an op's outputs follow its inputs, as on CUDA); ``.cpu()`` / ``.to("cpu")`` leave it;
- ``t.device`` of such a tensor reports the run's device, as ``cuda:0`` would be reported, so code
  that writes ``device=z.device`` is right here exactly when it is right on a GPU;
- an op whose tensor arguments are on both sides raises ``RuntimeError`` ("Expected all tensors to be
  on the same device", CUDA's words), except where CUDA allows it: 0-dim CPU tensors (scalars),
  indices in ``t[index]`` / ``t[index] = v``, and the copies between devices (``copy_``, ``.to``);
- ``.numpy()`` or ``np.asarray`` of a tensor on the device raises ``TypeError``, as for a CUDA tensor.

Gradients (``p.grad``), ``p.data``, deep copies and parameters built from tensors on the device
stay on it, as on CUDA. Only the current thread is watched (modes are per thread).
"""
from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

_TAG = "_on_run_device"
_SAME_DEVICE_FREE = {torch.Tensor.__getitem__, torch.Tensor.__setitem__, torch.Tensor.copy_,
                     torch.Tensor.to, torch.Tensor.cpu, torch.Tensor.__repr__, torch.Tensor.__format__,
                     torch.Tensor.data.__set__, torch.Tensor.grad.__set__, torch.Tensor.set_,
                     torch._has_compatible_shallow_copy_type}   # moves and metadata, legal across devices
_TO_NUMPY = {torch.Tensor.numpy, torch.Tensor.__array__}
_DEVICE_GET = torch.Tensor.device.__get__
_INHERIT_GETTERS = {torch.Tensor.data.__get__, torch.Tensor.grad.__get__}


def on_device(t) -> bool:
    return isinstance(t, torch.Tensor) and getattr(t, _TAG, False)


def _flat(items) -> list:
    """The tensors among items and one level into their lists and tuples (an op's arguments and outputs):
    a shallow scan, several times cheaper than a full pytree walk on every op."""
    out = []
    for a in items:
        if isinstance(a, torch.Tensor):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out.extend(t for t in a if isinstance(t, torch.Tensor))
    return out


def _mark(out, value: bool) -> None:
    for t in _flat(out if isinstance(out, (list, tuple)) else (out,)):
        try:
            setattr(t, _TAG, value)
        except (AttributeError, RuntimeError):   # a few internal tensor types take no attributes
            pass


class DeviceGuard(TorchFunctionMode):
    """See the module's docstring. ``device`` is the run's device (e.g. ``torch.device("cpu:0")``)."""

    def __init__(self, device) -> None:
        super().__init__()
        self.device = torch.device(device)

    def _target(self, args, kwargs):
        """The device a .to / factory call asks for: True (the run's), False (another), None (unsaid)."""
        for a in [kwargs.get("device"), *args]:
            if isinstance(a, torch.Tensor):
                return on_device(a)
            if isinstance(a, (str, torch.device)):
                try:
                    return torch.device(a) == self.device
                except RuntimeError:   # a string that is a memory format name etc.
                    continue
        return None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func == _DEVICE_GET:   # a descriptor's __get__ is a new object at each access: compare with ==
            return self.device if on_device(args[0]) else func(*args)
        tensors = _flat((*args, *kwargs.values()))
        inside = [on_device(t) for t in tensors]
        if func in _TO_NUMPY and any(inside):
            raise TypeError(f"can't convert {self.device} device type tensor to numpy (device_guard: on a GPU "
                            "this tensor is on the GPU). Use Tensor.cpu() to copy the tensor to host memory first.")
        if func not in _SAME_DEVICE_FREE and any(inside) and not all(inside):
            names = sorted({str(self.device) if i else "cpu" for t, i in zip(tensors, inside) if t.dim() > 0})
            if len(names) > 1:
                raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                                   f"{names[0]} and {names[1]}! (device_guard, in {getattr(func, '__name__', func)}: "
                                   "on a GPU this call fails; move the CPU tensor with .to(device))")
        out = func(*args, **kwargs)
        if func in (torch.Tensor.to, torch.Tensor.cpu):
            target = False if func is torch.Tensor.cpu else self._target(args[1:], kwargs)
            moved = on_device(args[0]) if target is None else target
            if out is args[0] and moved != on_device(out):   # same memory here; another tensor on a GPU
                out = out.view_as(out)
            _mark(out, moved)
        elif func in _INHERIT_GETTERS:
            if out is not None:
                _mark(out, on_device(args[0]))
        else:
            target = self._target((), kwargs) if "device" in kwargs else None
            if target is not None:
                _mark(out, target)
            elif any(inside) and func not in (torch.Tensor.__setitem__, torch.Tensor.copy_):
                _mark(out, True)
        return out


def _patch_modules(guard: DeviceGuard) -> None:
    """Module.to/.cpu and Parameter() keep parameters' marks (Module.to assigns param.data in place)."""
    module_to, module_cpu = torch.nn.Module.to, torch.nn.Module.cpu
    parameter_new = torch.nn.Parameter.__new__

    def mark_module(module, value):
        for t in [*module.parameters(), *module.buffers()]:
            _mark(t, value)
            if t.grad is not None:
                _mark(t.grad, value)

    def to(self, *args, **kwargs):
        out = module_to(self, *args, **kwargs)
        device = torch._C._nn._parse_to(*args, **kwargs)[0]
        if device is not None:
            mark_module(self, torch.device(device) == guard.device)
        return out

    def cpu(self):
        out = module_cpu(self)
        mark_module(self, False)
        return out

    def parameter(cls, data=None, requires_grad=True):
        out = parameter_new(cls, data, requires_grad)
        if on_device(data):
            _mark(out, True)
        return out

    torch.nn.Module.to, torch.nn.Module.cpu = to, cpu
    torch.nn.Parameter.__new__ = parameter


def install(device) -> DeviceGuard:
    """Watch this thread from now on (for the rest of the process)."""
    guard = DeviceGuard(device)
    _patch_modules(guard)
    guard.__enter__()
    return guard

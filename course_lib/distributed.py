"""Training on several GPUs with torchrun and DistributedDataParallel (DDP), kept small: one process per GPU.

    torchrun --nproc_per_node=4 benchmarks/ssl_gpu.py --method simclr

torchrun starts one process per GPU and sets RANK, WORLD_SIZE and LOCAL_RANK; ``init()`` joins them
into one process group (nccl on CUDA, gloo on CPU). Each rank trains the same model on its own
``shard()`` of the data; ``ddp(model)`` makes BatchNorm a SyncBatchNorm (batch statistics over every
rank's images) and wraps the method so that its gradients are averaged over the ranks; SimCLR and
MoCo ``all_gather`` their embeddings, so negatives and queue come from the global batch. Together:
W ranks with B/W images each compute the loss and gradients of one process with all B images
(``ddp_max_abs_diff`` checks it). Rank 0 (``is_main()``) logs, evaluates and saves.

Without torchrun (torch.distributed not initialised) everything here is the identity: rank 0 of a
world of 1, gathers return their input and models stay as they are, so single-process code is unchanged.
"""
from __future__ import annotations

import contextlib
import inspect
import os
import socket
import sys
import tempfile
from pathlib import Path

import torch
from torch import distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
# DDP's switch for copying rank 0's buffers at every forward (newer torch renamed it; the old name warns).
_NO_BUFFER_SYNC = ({"forward_sync_buffers": False}
                   if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
                   else {"broadcast_buffers": False})


def is_initialized() -> bool:
    """True inside a process group (torchrun + init()), False in an ordinary single process."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank, 0..world_size()-1 (0 in a single process)."""
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    """Number of processes training together (1 in a single process)."""
    return dist.get_world_size() if is_initialized() else 1


def is_main() -> bool:
    """True on rank 0, the one process that prints, evaluates and writes checkpoints."""
    return rank() == 0


def device() -> torch.device:
    """This rank's device: cuda:LOCAL_RANK under torchrun with CUDA, cuda without torchrun, else cpu."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ["LOCAL_RANK"])) if "LOCAL_RANK" in os.environ else torch.device("cuda")


def init() -> torch.device:
    """Join torchrun's process group (read from RANK, WORLD_SIZE, LOCAL_RANK) and return this rank's device.

    Without torchrun (no RANK in the environment) there is nothing to join: the single-process device.
    """
    if "RANK" not in os.environ or is_initialized():
        return device()
    missing = [key for key in TORCHRUN_ENV if key not in os.environ]
    if missing:
        raise RuntimeError(f"RANK is set but {', '.join(missing)} not: start the script with torchrun "
                           "(torchrun --nproc_per_node=N script.py ...), which sets all of them")
    if torch.cuda.is_available():
        torch.cuda.set_device(device())  # before any CUDA work: each rank owns one GPU
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")  # env:// from torchrun
    return device()


def shutdown() -> None:
    """Leave the process group at the end of a run (nothing to do in a single process)."""
    if is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def main_first():
    """Run the block on rank 0 first, then on the others (e.g. a download into a shared cache)."""
    if not is_main():
        dist.barrier()
    yield
    if is_main() and is_initialized():
        dist.barrier()


def shard(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """This rank's share of x: one permutation drawn from `seed` (the same on every rank) cut into equal parts.

    The last len(x) % world_size() examples of the permutation are dropped so that every rank has
    as many batches (a rank with one batch more would wait for the others forever). One process: x.
    """
    if world_size() == 1:
        return x
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    per_rank = len(x) // world_size()
    return x[order[rank() * per_rank:(rank() + 1) * per_rank].to(x.device)]


class _AllGather(torch.autograd.Function):
    """all_gather with a gradient: each rank's rows get the gradient that every rank's loss sends them."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        # Sum over the ranks (not mean): DDP then averages the parameters' gradients, so the result is
        # the gradient of the mean of the ranks' losses, as one process would compute it.
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        n = len(grad) // world_size()
        return grad[rank() * n:(rank() + 1) * n]


class _AllReduceSum(torch.autograd.Function):
    """all_reduce (sum) with a gradient: the sum's gradient summed over the ranks."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def all_gather(x: torch.Tensor) -> torch.Tensor:
    """Every rank's x (n, ...) concatenated in rank order, (world_size * n, ...); differentiable; x in one process.

    Every rank must pass the same shape (equal batches: shard() and drop_last=True see to it).
    """
    return _AllGather.apply(x) if world_size() > 1 else x


class CpuSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """SyncBatchNorm for CPU tensors (gloo): torch's nn.SyncBatchNorm runs on GPUs only (and DDP refuses it on CPU).

    In training, the mean and variance over every rank's batch come from two differentiable
    all-reduces (equal batch sizes on every rank assumed); in evaluation it is a plain BatchNorm.
    For the CPU check (ddp_max_abs_diff) and CPU runs under torchrun; GPUs use nn.SyncBatchNorm.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (N, C, ...), got {x.dim()}D input")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and world_size() > 1):
            return super().forward(x)
        dims, shape = [0, *range(2, x.dim())], [1, -1] + [1] * (x.dim() - 2)
        count = x.numel() // x.shape[1] * world_size()                  # values per channel, all ranks
        mean = _AllReduceSum.apply(x.sum(dims)) / count                 # (C,)
        var = _AllReduceSum.apply((x - mean.view(shape)).pow(2).sum(dims)) / count  # biased, as BN normalises
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                factor = self.momentum if self.momentum is not None else 1 / int(self.num_batches_tracked)
                self.running_mean.mul_(1 - factor).add_(mean, alpha=factor)
                self.running_var.mul_(1 - factor).add_(var * count / max(count - 1, 1), alpha=factor)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y


def sync_batchnorm(model: nn.Module) -> nn.Module:
    """Every BatchNorm of model (target networks included) -> SyncBatchNorm, batch statistics over all ranks.

    With B/W images per rank, plain BatchNorm would normalise with the statistics of B/W images and
    the run would differ from one process with B (for SimCLR this is also the paper's "global BN").
    The parameters and buffers are kept (same objects). One process: model unchanged.
    """
    if world_size() == 1:
        return model
    if next(model.parameters()).device.type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.__class__ = CpuSyncBatchNorm  # same attributes, the forward above
    return model


class _Loss(nn.Module):
    """The module DDP wraps: its forward is the method's training loss."""

    def __init__(self, method: nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.method.loss(x)


class DistributedMethod(DistributedDataParallel):
    """A method under DDP that still follows the method protocol (loss(x), .encoder, momentum_update, ...).

    DDP all-reduces the gradients of what runs through its forward(), but methods are trained
    through loss(x): here forward() *is* loss(x). Every other attribute reads the method's own (to
    set one, set it on unwrap(model): an assignment here would land on the wrapper). Target
    networks (requires_grad False) get no gradient and are not all-reduced: they stay equal on all
    ranks because every rank applies the same momentum update to the same online weights.
    No buffer copy at each forward: SyncBatchNorm keeps the running statistics equal and every rank pushes
    the same gathered keys into MoCo's queue, so rank 0's buffers need no copying at every step.
    """

    def __init__(self, method: nn.Module, **options) -> None:
        super().__init__(_Loss(method), **_NO_BUFFER_SYNC, **options)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """The method's loss on this rank's batch; backward() averages the gradients over the ranks."""
        return self(x)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if "module" not in self.__dict__.get("_modules", {}):
                raise
            return getattr(self._modules["module"].method, name)


def ddp(model: nn.Module) -> nn.Module:
    """Ready a method (already on its device) for training under torchrun: SyncBatchNorm, then DDP.

    One process: the model itself. Call it after .to(device) and channels_last (DDP fixes the
    parameters' layout) and before building the optimiser.
    """
    if world_size() == 1:
        return model
    model = sync_batchnorm(model)
    where = next(model.parameters()).device
    return DistributedMethod(model, device_ids=[where.index] if where.type == "cuda" else None)


def unwrap(model: nn.Module) -> nn.Module:
    """The method inside ddp(model) (model itself when it is not wrapped)."""
    return model.module.method if isinstance(model, DistributedMethod) else model


# ---- the check: W ranks with B/W images each == one process with B images -------------------------

class _TwoViews:
    """A deterministic augmentation: the first call of each pair returns x, the second x flipped.

    The comparison needs the same views in both runs; random augmentations would differ between one
    process's batch of B and W ranks' batches of B/W.
    """

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        self.calls += 1
        return x if self.calls % 2 else x.flip(-1)


def _train_steps(name: str, x: torch.Tensor, steps: int) -> dict:
    """`steps` SGD steps of method `name` on x (this rank's part of the batch): losses, gradients, final state."""
    from .vision import encoders, methods as registry  # imported here: vision imports this module

    torch.manual_seed(0)
    options = {"queue_size": 4 * len(x) * world_size()} if name == "moco" else {}
    method = registry.build(name, encoders.make_encoder("convnet", width=8), augment_fn=_TwoViews(), **options)
    model = ddp(method)
    trainable = [p for p in method.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.5)
    losses, grads = [], []
    for step in range(1, steps + 1):
        loss = registry.plain_step(model, x, optimizer, step, steps)
        mean_loss = loss.detach().clone()
        if world_size() > 1:
            dist.all_reduce(mean_loss)
        losses.append(mean_loss / world_size())
        grads.append([p.grad.clone() for p in trainable])
    return {"loss": losses, "grads": grads, "state": dict(method.state_dict())}


def _batch(n: int, size: int) -> torch.Tensor:
    """The images both runs train on, (n, 3, size, size)."""
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))


def _worker(rank_: int, world: int, port: int, names: tuple[str, ...], n: int, size: int, steps: int,
            out: str) -> None:
    """One rank of the check: join the group over loopback, train on its slice, rank 0 saves the results."""
    torch.set_num_threads(1)  # W processes share the machine's cores
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo0" if sys.platform == "darwin" else "lo")  # loopback only
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank_, world_size=world)
    try:
        per_rank = n // world
        x = _batch(n, size)[rank_ * per_rank:(rank_ + 1) * per_rank]  # rank order = the batch's order
        results = {name: _train_steps(name, x, steps) for name in names}
        if rank_ == 0:
            torch.save(results, out)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _max_abs_diff(a, b) -> float:
    """Largest absolute difference between two nests (dicts / lists) of tensors of the same structure."""
    if isinstance(a, dict):
        return max((_max_abs_diff(a[k], b[k]) for k in a), default=0.0)
    if isinstance(a, (list, tuple)):
        return max((_max_abs_diff(u, v) for u, v in zip(a, b)), default=0.0)
    if isinstance(a, torch.Tensor) and a.numel():
        return float((a.double() - b.double()).abs().max())
    return 0.0


def ddp_max_abs_diff(methods: tuple[str, ...] = ("simclr", "moco", "byol", "simsiam"), *, world: int = 2,
                     batch: int = 8, size: int = 16, steps: int = 2) -> float:
    """Largest difference between `world` CPU ranks (gloo) with batch/world images each and one process with all.

    For each method: the loss, the gradients of the first `steps` SGD steps and the final state
    (weights, target networks, BatchNorm statistics, MoCo's queue). Fixed views (no random
    augmentation), SyncBatchNorm and gathered negatives make the two runs compute the same thing, so
    the answer is float rounding (< 1e-4). Starts `world` processes over loopback; a few seconds.
    """
    if batch % world:
        raise ValueError(f"the batch of {batch} does not split into {world} equal parts")
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "ranks.pt")
        torch.multiprocessing.spawn(_worker, args=(world, _free_port(), tuple(methods), batch, size, steps, out),
                                    nprocs=world)
        ranks = torch.load(out, weights_only=False)
    x = _batch(batch, size)
    return max(_max_abs_diff(_train_steps(name, x, steps), ranks[name]) for name in methods)

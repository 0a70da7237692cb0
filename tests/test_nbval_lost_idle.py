"""conftest's patch of nbval: a cell whose kernel replied "ok" is finished even when its idle status is lost."""
from __future__ import annotations

import queue

import pytest

nbval_kernel = pytest.importorskip("nbval.kernel")


class FakeClient:
    """Serves scripted shell and IOPub messages; an exhausted channel raises queue.Empty."""

    def __init__(self, shell: list[dict], iopub: list[dict]) -> None:
        self.shell, self.iopub = list(shell), list(iopub)

    def get_shell_msg(self, timeout=None):
        if not self.shell:
            raise queue.Empty
        return self.shell.pop(0)

    def get_iopub_msg(self, timeout=None):
        if not self.iopub:
            raise queue.Empty
        return self.iopub.pop(0)


def reply(parent: str, status: str) -> dict:
    return {"msg_type": "execute_reply", "parent_header": {"msg_id": parent}, "content": {"status": status}}


def status(parent: str, state: str) -> dict:
    return {"msg_type": "status", "parent_header": {"msg_id": parent}, "content": {"execution_state": state}}


def kernel(shell: list[dict], iopub: list[dict]):
    k = object.__new__(nbval_kernel.RunningKernel)
    k.kc = FakeClient(shell, iopub)
    return k


def test_the_patch_is_installed():
    assert getattr(nbval_kernel.RunningKernel.get_message, "tolerates_lost_idle", False)


def test_an_ok_reply_without_idle_reads_as_idle_once():
    k = kernel([reply("a", "ok")], [status("a", "busy")])
    k.await_reply("a", timeout=1)
    assert k.get_message("iopub", timeout=0)["content"]["execution_state"] == "busy"
    synthetic = k.get_message("iopub", timeout=0)
    assert synthetic["msg_type"] == "status" and synthetic["parent_header"]["msg_id"] == "a"
    assert synthetic["content"]["execution_state"] == "idle"
    with pytest.raises(queue.Empty):  # only once
        k.get_message("iopub", timeout=0)


def test_an_error_reply_still_times_out():
    k = kernel([reply("b", "error")], [])
    k.await_reply("b", timeout=1)
    with pytest.raises(queue.Empty):
        k.get_message("iopub", timeout=0)


def test_a_real_idle_is_not_doubled():
    k = kernel([reply("c", "ok")], [status("c", "idle")])
    k.await_reply("c", timeout=1)
    k.await_idle("c", timeout=0)
    with pytest.raises(queue.Empty):
        k.get_message("iopub", timeout=0)


def test_an_empty_shell_channel_still_raises():
    with pytest.raises(queue.Empty):
        kernel([], []).await_reply("d", timeout=0)

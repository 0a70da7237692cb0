"""Start one kernel jailed: its own cgroup, mount, PID, network and IPC namespaces, an unprivileged user.

Run as a file by jupyter_client (the kernelspec's argv), `python -I -S jail.py CONFIG CONNECTION`,
so it imports nothing of the course. CONFIG is a JSON file only root can read (see isolation.py).
This process stays outside the new PID namespace and waits; its child is PID 1 inside, so when
the child dies every process the student started dies with it, and when this process is killed
the child gets SIGKILL (parent-death signal). Inside: /proc shows only the namespace, /tmp is the
run's own folder, the grader's folders are covered by empty read-only mounts, the repository and
the Python environment are read-only, and the kernel runs as a uid with no capabilities. Its network
is its own loopback alone (the worker reaches it through unix sockets in the run's folder), its
SysV and POSIX IPC objects die with it, and its uid may run only so many processes.
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import os
import resource
import signal
import socket
import struct
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x10000000, 0x20000000
CLONE_NEWNET, CLONE_NEWIPC = 0x40000000, 0x08000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE = 1, 24, 38, 4

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)
    _check(_libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


def _open_up(expose: dict[str, list[str]], stage: str) -> None:
    """Make needed folders under an unreadable one (say /root/.pyenv under /root, mode 700)
    reachable: cover the blocked folder with an empty tmpfs and bind only the needed ones in."""
    for n, (blocked, needed) in enumerate(expose.items()):
        staged = []
        for k, path in enumerate(needed):
            spot = os.path.join(stage, f"{n}-{k}")
            os.makedirs(spot, exist_ok=True)
            _mount(path, spot, None, MS_BIND | MS_REC)
            staged.append((spot, path))
        _mount("tmpfs", blocked, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
        for spot, path in staged:
            os.makedirs(path, mode=0o755, exist_ok=True)
            _mount(spot, path, None, MS_BIND | MS_REC)
            _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        _mount(None, blocked, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=64k,mode=755")


def _loopback_up() -> None:
    """The new network namespace's only interface, lo, starts down: bring it up."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH14x", b"lo", 0))[:18])[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _inside(cfg: dict, conn: str, extra: list[str]) -> None:
    """PID 1 of the new namespace: build the view, drop every privilege, exec the kernel."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if cfg.get("net"):
        _loopback_up()
        if os.path.isdir("/dev/mqueue"):   # the POSIX queues of this IPC namespace, not the host's
            _mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    with open(conn, "rb") as f:   # a copy the kernel can read, inside its own folder
        info = f.read()
    conn_info = json.loads(info)
    if conn_info.get("transport") == "ipc":   # the sockets' folder as the kernel sees it: /tmp
        conn_info["ip"] = "/tmp" + conn_info["ip"][len(cfg["home"]):]
        info = json.dumps(conn_info).encode()
    inner = os.path.join(cfg["home"], ".runtime", "kernel.json")
    fd = os.open(inner, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, info)
    os.close(fd)
    if cfg["uid"] is not None:
        os.chown(inner, cfg["uid"], cfg["gid"])
    _open_up(cfg["expose"], cfg["stage"])
    # The run's own folder becomes all of /tmp; what the kernel needs from the old /tmp (a clone or a
    # venv there) is bound into it first, at the same path, and made read-only after.
    for path in cfg.get("keep_tmp", []):
        spot = os.path.join(cfg["home"], os.path.relpath(path, "/tmp"))
        os.makedirs(spot, mode=0o755, exist_ok=True)
        _mount(path, spot, None, MS_BIND | MS_REC)
    _mount(cfg["home"], "/tmp", None, MS_BIND | MS_REC)
    for path in cfg.get("keep_tmp", []):
        _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir("/tmp")
    if cfg.get("keep_tmp"):  # the kernel works in a folder of its own, beside those read-only ones
        os.makedirs("/tmp/work", mode=0o700, exist_ok=True)
        if cfg["uid"] is not None:
            os.chown("/tmp/work", cfg["uid"], cfg["gid"])
        os.chdir("/tmp/work")
    for path in cfg["readonly"]:  # every other mount, so the repository and the venv too
        if path == "/tmp" or path.startswith("/tmp/") or not os.path.lexists(path):
            continue   # the run's own, or under a covered folder
        if not os.path.ismount(path):
            _mount(path, path, None, MS_BIND | MS_REC)
        try:
            _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        except OSError:
            if path in cfg["must_be_readonly"]:
                raise
    for path in cfg["hide"]:
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555")
    shm = f"size={int(cfg['shm_mb'])}m,mode=1777"
    for path in ("/dev/shm", "/var/tmp"):
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, shm)
    for cap in range(64):  # no capability survives the exec, even for uid 0 in a user namespace
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    if cfg["uid"] is not None:
        if cfg.get("nproc"):   # the uid is this kernel's alone, so this caps the kernel's processes
            resource.setrlimit(resource.RLIMIT_NPROC, (cfg["nproc"], cfg["nproc"]))
        os.setgroups([])
        os.setresgid(cfg["gid"], cfg["gid"], cfg["gid"])
        os.setresuid(cfg["uid"], cfg["uid"], cfg["uid"])
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    argv = [a.replace("{connection_file}", "/tmp/.runtime/kernel.json") for a in cfg["argv"]] + extra
    os.execve(argv[0], argv, cfg["env"])


def main() -> None:
    """Join the cgroup, unshare, fork PID 1, wait for it and exit with its status."""
    cfg_path, conn = sys.argv[1], sys.argv[2]
    with open(cfg_path, encoding="utf-8") as f:
        cfg = json.load(f)
    if cfg.get("cgroup_procs"):
        with open(cfg["cgroup_procs"], "w") as f:
            f.write(str(os.getpid()))
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWPID | (CLONE_NEWUSER if cfg["userns"] else 0) | \
        (CLONE_NEWNET | CLONE_NEWIPC if cfg.get("net") else 0)
    _check(_libc.unshare(flags), "unshare")
    if cfg["userns"]:
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)   # nobody inside may ptrace or read this process
    child = os.fork()
    if child == 0:
        try:
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            _inside(cfg, conn, sys.argv[3:])
        except BaseException as e:  # noqa: BLE001 - report and die; the worker sees a dead kernel
            os.write(2, f"jail: {type(e).__name__}: {e}\n".encode())
        os._exit(70)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, f: os.kill(child, signal.SIGKILL))
    _, status = os.waitpid(child, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


if __name__ == "__main__":
    main()

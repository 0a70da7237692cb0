"""The library must not answer the exercises: what an exercise asks for is switched off for the student.

An exercise notebook names, in its metadata, the library functions that already do what it asks
(`metadata.course_lib.write_yourself = {answer grade_id: ["course_lib.vision.pretext.rotate_batch"]}`).
When a submission is graded (and when `validate` runs it), two layers keep them out of the answer:

1. In the kernel, before any cell, `install` swaps each named function's code for a gate: called
   from the library's own code (a training loop, a check's reference) it runs as before; called from
   anywhere else (an answer, an import of it under any alias, importlib, a dict that holds it) it
   raises NotImplementedError("write this yourself ..."). Every reference to the function shares the
   gate, because the function object itself is changed, not a name.
2. In the grader's process, `delegation` reads every answer cell and every cell the student added
   (never run when it fires): an import of a module that holds a named function or of the function,
   an attribute of that name, and what can rebuild a fresh copy out of the gate's reach (exec, eval,
   compile, importlib and reload, inspect, gc, marshal, open, os, sys, pathlib, subprocess, shell
   escapes, code and frame attributes). Such a cell is replaced by a stub that raises the reason.

Deliberate circumvention that neither layer sees (say, reaching `gc` through another module's
attribute) is possible in the student's process: solutions/README.md says so.
"""
from __future__ import annotations

import ast
import contextlib
import importlib
import sys
import types
from pathlib import Path
from typing import Iterator

LIB = Path(__file__).resolve().parents[1]     # course_lib/
HERE = Path(__file__).resolve().parent         # course_lib/grading/
GATE = "__course_lib_gate__"

# What can rebuild the library's implementation out of the gate's reach, or read its source.
MODULES = {"importlib", "inspect", "gc", "marshal", "linecache", "runpy", "pkgutil", "ctypes", "dis", "code",
           "codeop", "zipimport", "pickle", "dill", "types", "os", "sys", "io", "pathlib", "shutil", "subprocess",
           "builtins", "tokenize", "ast", "pty", "posix", "mmap", "glob", "fileinput", "codecs", "tempfile"}
NAMES = {"exec", "eval", "compile", "__import__", "globals", "vars", "locals", "get_ipython", "open",
         "breakpoint", "reload", "__builtins__", "__loader__", "__spec__", "__file__"}
ATTRS = {"__code__", "__globals__", "__dict__", "__file__", "__spec__", "__loader__", "__builtins__", "__closure__",
         "__wrapped__", "__subclasses__", "__mro__", "__bases__", "__class__", "__self__", "__func__", "__module__",
         "__defaults__", "__kwdefaults__", "__getattribute__", "__reduce__", "__reduce_ex__", "f_globals", "f_locals",
         "f_back", "f_code", "gi_frame", "tb_frame", "co_consts", "modules", "system", "popen", "getsource",
         "get_objects", "read_text", "read_bytes", "reload", "import_module"}


def asked(nb: dict) -> dict[str, list[str]]:
    """{answer grade_id: [dotted paths of library functions it must not use]} from the notebook."""
    meta = nb.get("metadata", {}).get("course_lib", {}) if isinstance(nb.get("metadata"), dict) else {}
    found = meta.get("write_yourself", {}) if isinstance(meta, dict) else {}
    if not isinstance(found, dict):
        return {}
    return {str(k): [str(p) for p in v if isinstance(p, str)] for k, v in found.items() if isinstance(v, list)}


def all_paths(nb: dict) -> list[str]:
    """Every named library function of the notebook, in order, once."""
    out: list[str] = []
    for paths in asked(nb).values():
        out += [p for p in paths if p not in out]
    return out


def install_code(paths: list[str]) -> str:
    """The kernel code (the graded run's first step) that installs the gates."""
    return f'__import__("course_lib.grading.shadow", fromlist=["install"]).install({paths!r})\n'


def message(path: str) -> str:
    """What a student sees who calls the library's version."""
    return (f"write this yourself: the exercise asks you to write what {path} does, so that function does not "
            "work in your code while it is graded (or checked)")


# ---------------------------------------------------------------- kernel side: the gates

_REAL: dict[int, tuple[types.FunctionType, str]] = {}
_ALWAYS: set[int] = set()   # gates that refuse every caller outside the library (the grader's)
_checking = 0                # > 0 while a student-side check runs: every gate refuses (course_lib.checks)


def _resolve(path: str) -> object | None:
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _from_library(frame: types.FrameType | None) -> bool:
    """True if the frame runs course_lib's own code (not the grader's, not a notebook's)."""
    if frame is None:
        return False
    name = frame.f_code.co_filename
    if name.startswith("<"):
        return False
    try:
        path = Path(name).resolve()
    except (OSError, ValueError):
        return False
    return LIB in path.parents and HERE not in path.parents and path.parent != HERE


_WRAPPERS = ("contextlib.py", "functools.py")   # decorators (torch.no_grad's is utils/_contextlib.py)


def _dispatch(key: int, args: tuple, kwargs: dict) -> object:
    real, path = _REAL[key]
    frame = sys._getframe(2)   # 0: here, 1: the gate, 2: whoever called the function (or its decorator)
    while frame is not None and frame.f_code.co_filename.endswith(_WRAPPERS):
        frame = frame.f_back
    if _from_library(frame) or (key not in _ALWAYS and not _checking):
        return real(*args, **kwargs)
    raise NotImplementedError(message(path))


def _gate_code(key: int) -> types.CodeType:
    src = f"def gate(*args, **kwargs):\n    return {GATE}({key}, args, kwargs)\n"
    ns: dict = {}
    exec(compile(src, "<course_lib: write this yourself>", "exec"), ns)
    return ns["gate"].__code__


def install(paths: list[str], always: bool = True) -> list[str]:
    """Gate every named function (idempotent); returns the paths gated. Unknown paths are skipped.
    always=False (the student-side checks): the gate refuses only while `checking()` is on."""
    done = []
    for path in paths:
        fn = _resolve(path)
        while isinstance(fn, types.FunctionType) and fn.__code__.co_freevars and hasattr(fn, "__wrapped__"):
            fn = fn.__wrapped__   # a decorated function (torch.no_grad): gate the one it wraps
        if not isinstance(fn, types.FunctionType) or fn.__code__.co_freevars:
            continue
        key = id(fn)
        if key not in _REAL:
            real = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
            real.__kwdefaults__ = fn.__kwdefaults__
            _REAL[key] = (real, path)
            fn.__globals__[GATE] = _dispatch
            fn.__code__ = _gate_code(key).replace(co_name=fn.__code__.co_name,
                                                  co_qualname=getattr(fn.__code__, "co_qualname", fn.__name__))
        if always:
            _ALWAYS.add(key)
        done.append(path)
    return done


@contextlib.contextmanager
def checking() -> Iterator[None]:
    """While a check calls a student's answer, every gate refuses callers outside the library; before
    and after, gates installed with always=False let the notebook use the library as usual."""
    global _checking
    _checking += 1
    try:
        yield
    finally:
        _checking -= 1


# ---------------------------------------------------------------- grader side: reading the cells

def _python(code: str) -> ast.AST | None:
    """The cell as Python (IPython's magics and shell escapes turned into the calls they make)."""
    try:
        return ast.parse(code)
    except SyntaxError:
        pass
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return ast.parse(TransformerManager().transform_cell(code))
    except Exception:  # noqa: BLE001 - not Python even for IPython: refused below
        return None


def delegation(code: str, paths: list[str]) -> str | None:
    """Why this student cell could use the library's own implementation of what is asked (None if
    it cannot, as far as reading it tells)."""
    if not paths:
        return None
    tree = _python(code)
    if tree is None:
        return "it is neither Python nor IPython"
    modules = {p.rsplit(".", 1)[0] for p in paths} | {p.rsplit(".", 2)[0] for p in paths if p.count(".") > 2}
    names = {p.rsplit(".", 1)[1] for p in paths}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            base = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
            for alias in node.names:
                full = f"{base}.{alias.name}" if base else alias.name
                top = (base or alias.name).split(".")[0]
                if full in modules or base in modules or alias.name in names or top in MODULES:
                    return f"it imports {full}"
        elif isinstance(node, ast.Name) and (node.id in NAMES or node.id in MODULES and isinstance(node.ctx, ast.Load)
                                             and node.id not in _assigned(tree)):
            return f"it uses {node.id}"
        elif isinstance(node, ast.Attribute) and (node.attr in ATTRS or node.attr in names):
            return f"it uses .{node.attr}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "course_lib" in node.value:
            return "it names course_lib in a string"
    return None


def _assigned(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)} | \
        {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments)
         for a in (*n.posonlyargs, *n.args, *n.kwonlyargs, *(x for x in (n.vararg, n.kwarg) if x))}


def refused_cell(reason: str, paths: list[str]) -> str:
    """The code run instead of a refused cell: it raises why."""
    what = ", ".join(p.rsplit(".", 1)[1] for p in paths)
    text = (f"write this yourself: this cell was not run because {reason}, which could use course_lib's own "
            f"version of what the exercise asks you to write ({what})")
    return f"raise NotImplementedError({text!r})\n"

"""The Checker: runs named checks, prints one line each, fails the cell at the end if any failed.

Failures are meant to teach, so in a notebook they end with one short message and no traceback
into this library:

- a failed check raises `CheckFailed` (an AssertionError, so a grader and pytest see a failure);
  IPython shows only its one-line message, through the `_render_traceback_` hook;
- an exercise stub (`raise NotImplementedError()` in a function the student has not written yet)
  is named: the check says "write `solve_analogy` first", and any other cell of the notebook that
  calls the stub says the same instead of a bare `NotImplementedError:` (an IPython handler that
  `install_stub_message()` registers when `course_lib.checks` is imported in a kernel);
- a check of an exercise that asks for something the library implements (`asks=`: its dotted path)
  refuses the library's version as the grader does (course_lib/grading/shadow.py): passing the
  library's function fails every check with "write this yourself", and the library function is gated,
  so an answer that calls it fails the same way while a check runs it.
"""
from __future__ import annotations

import inspect
import sys
import sysconfig
from pathlib import Path
from types import TracebackType
from typing import Callable

_LIBRARY_DIRS = tuple({str(Path(__file__).resolve().parents[1])} |
                      {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")})


class CheckFailed(AssertionError):
    """A check cell's verdict: shown in a notebook as its message alone, without a traceback."""

    def _render_traceback_(self) -> list[str]:   # IPython's hook: these lines replace the traceback
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


def _student_frame(tb: TracebackType | None):
    """The innermost frame of the traceback, if it is the student's code (not a library's), else None."""
    frame = None
    while tb is not None:
        frame, tb = tb.tb_frame, tb.tb_next
    if frame is None:
        return None
    filename = str(Path(frame.f_code.co_filename).resolve()) if not frame.f_code.co_filename.startswith("<") \
        else frame.f_code.co_filename
    if filename.startswith(_LIBRARY_DIRS):
        return None
    return frame


def stub_name(err: BaseException) -> str | None:
    """The name of the unwritten function that raised `err`: a NotImplementedError raised directly by
    code outside the libraries (the exercise's stub), e.g. 'solve_analogy'; None for anything else."""
    if not isinstance(err, NotImplementedError) or str(err).startswith("write this yourself"):
        return None   # not a stub; or the library's version, refused (course_lib/grading/shadow.py)
    frame = _student_frame(err.__traceback__)
    if frame is None or frame.f_code.co_name == "<module>":
        return None
    return getattr(frame.f_code, "co_qualname", frame.f_code.co_name)


def write_first(name: str) -> str:
    """The message for a stub: which function to write, and how."""
    return (f"`{name}` is not written yet: write it first (replace `raise NotImplementedError()` in its "
            "cell with your code and run that cell), then run this cell again")


def _library_version(fn: object, asks: tuple[str, ...]) -> str | None:
    """The path of the asked-for library function that `fn` is, if any. Each of them is also gated, so
    that an answer that calls one fails while a check runs it (shadow.checking); outside a check the
    library works as usual."""
    from ..grading import shadow

    shadow.install(list(asks), always=False)
    mine = inspect.unwrap(fn) if callable(fn) else fn   # a decorator's code is shared: compare what it wraps
    for path in asks:
        real = shadow._resolve(path)
        if real is not None and (fn is real or mine is inspect.unwrap(real)
                                 or getattr(mine, "__code__", 0) is getattr(inspect.unwrap(real), "__code__", 1)):
            return path
    return None


class Checker:
    """Collects named checks; `done()` prints a summary and raises CheckFailed on any failure.
    With `fn` and `asks` (the library paths of what the exercise asks for), the library's own
    version is refused as the grader refuses it."""

    def __init__(self, title: str, fn: object = None, asks: tuple[str, ...] = ()) -> None:
        self.title, self.failed, self.passed = title, [], 0
        self.missing: str | None = None  # the stub's name once a check hit one: one message is enough
        self.refused: str | None = None  # "write this yourself": the library's version was passed or called
        path = _library_version(fn, asks) if asks else None
        if path is not None:
            from ..grading import shadow
            self.refused = shadow.message(path)
        print(f"Checking {title}:")

    def check(self, name: str, test: Callable[[], str | None]) -> bool:
        """Run test(); it returns None when fine or a hint when not (or raises). Print one line."""
        try:
            from ..grading import shadow
            with shadow.checking():
                hint = self.refused or (f"skipped: write `{self.missing}` first" if self.missing else test())
        except NotImplementedError as e:
            self.missing = None if str(e).startswith("write this yourself") else stub_name(e)
            if str(e).startswith("write this yourself"):
                self.refused = hint = str(e)
            elif self.missing:
                hint = f"`{self.missing}` is not written yet: replace `raise NotImplementedError()` with your code"
            else:
                hint = f"your code raised NotImplementedError: {e}"
        except Exception as e:  # noqa: BLE001 - a student's bug is a failed check, not a crash
            hint = f"your code raised {type(e).__name__}: {e}"
        if hint:
            self.failed.append(name)
            print(f"  FAIL  {name}: {hint}")
            return False
        self.passed += 1
        print(f"  PASS  {name}")
        return True

    def done(self) -> None:
        """Summary line; raise CheckFailed (one short message in a notebook) if any check failed."""
        total = self.passed + len(self.failed)
        if self.failed:
            print(f"{self.passed}/{total} checks passed.")
            if self.refused:
                raise CheckFailed(f"{self.title}: {self.refused}")
            if self.missing:
                raise CheckFailed(f"{self.title}: write `{self.missing}` first, then run this check again")
            raise CheckFailed(f"{self.title}: {len(self.failed)} of {total} checks failed "
                              f"({', '.join(self.failed)}); the FAIL lines above say why")
        print(f"All {total} checks passed.")


def _stub_handler(shell, etype, value, tb, tb_offset=None):
    """IPython handler for NotImplementedError: a stub gets one line saying what to write; anything
    else gets IPython's usual traceback."""
    name = stub_name(value)
    if name is None:
        stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
    else:
        stb = [f"\x1b[0;31mNotImplementedError\x1b[0m: {write_first(name)}"]
    shell._showtraceback(etype, value, stb)
    return stb


def _shell():
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None


def install_stub_message() -> bool:
    """In an IPython kernel, make a cell that calls an unwritten exercise function say which one to
    write first. Does nothing outside IPython, or where another custom exception handler is set.
    Returns whether the handler is in place."""
    shell = _shell()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    current = tuple(getattr(shell, "custom_exceptions", ()))
    if current == (NotImplementedError,) and getattr(shell, "_course_stub_handler", False):
        return True
    if current:
        return False   # someone else's handler: leave it
    shell.set_custom_exc((NotImplementedError,), _stub_handler)
    shell._course_stub_handler = True
    return True

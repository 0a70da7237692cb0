"""Import a repository tool (.ci/*.py: stdlib-only scripts, not a package) in tests."""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from conftest import REPO


def load_tool(name: str) -> ModuleType:
    """The module .ci/<name>.py, loaded once."""
    key = f"_course_tool_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, REPO / ".ci" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def own_copy(fn):
    """The library's implementation of fn as a student's own function: the checks refuse the library's
    function itself, and any call to it from an answer, while they run (course_lib/grading/shadow.py)."""
    import types

    from course_lib.grading import shadow
    real = shadow._REAL.get(id(fn), (fn, ""))[0]
    copy = types.FunctionType(real.__code__, real.__globals__, real.__name__, real.__defaults__, real.__closure__)
    copy.__kwdefaults__ = real.__kwdefaults__
    return copy

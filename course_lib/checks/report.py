"""The Checker: runs named checks, prints one line each, fails the cell at the end if any failed."""
from __future__ import annotations

from typing import Callable


class Checker:
    """Collects named checks; `done()` prints a summary and raises AssertionError on any failure."""

    def __init__(self, title: str) -> None:
        self.title, self.failed, self.passed = title, [], 0
        self.missing = False  # once the function is still a stub, one message is enough
        print(f"Checking {title}:")

    def check(self, name: str, test: Callable[[], str | None]) -> bool:
        """Run test(); it returns None when fine or a hint when not (or raises). Print one line."""
        try:
            hint = "skipped: the function is still a stub" if self.missing else test()
        except NotImplementedError:
            self.missing = True
            hint = "not implemented yet: replace `raise NotImplementedError()` with your code"
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
        """Summary line; raise AssertionError if any check failed (so the cell shows an error)."""
        total = self.passed + len(self.failed)
        if self.failed:
            print(f"{self.passed}/{total} checks passed.")
            raise AssertionError(f"{self.title}: {len(self.failed)} check(s) failed: {', '.join(self.failed)}")
        print(f"All {total} checks passed.")

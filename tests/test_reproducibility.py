"""The reproducibility checker compares what a notebook printed, minus [time] lines and stderr."""
from __future__ import annotations

import importlib.util

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from conftest import REPO

_spec = importlib.util.spec_from_file_location("reproducibility", REPO / "benchmarks" / "reproducibility.py")
reproducibility = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reproducibility)


def _executed(accuracy: str, seconds: str) -> nbformat.NotebookNode:
    cell = new_code_cell("...", outputs=[
        new_output("stream", name="stdout", text=f"probe accuracy {accuracy}\n[time] trained in {seconds} s\n"),
        new_output("stream", name="stderr", text=f"train: 100%|#####| {seconds}s\n"),
        new_output("execute_result", data={"text/plain": "History(epochs_done=4)"}, execution_count=1),
    ])
    return new_notebook(cells=[new_markdown_cell("# t"), cell])


def test_timings_and_stderr_are_ignored() -> None:
    a, b = _executed("61.1%", "14"), _executed("61.1%", "40")
    assert reproducibility.printed_lines(a) == reproducibility.printed_lines(b) == [
        "[cell 1] probe accuracy 61.1%", "[cell 1] History(epochs_done=4)"]


def test_a_changed_figure_is_seen() -> None:
    assert reproducibility.printed_lines(_executed("61.1%", "14")) != \
        reproducibility.printed_lines(_executed("55.7%", "14"))


def test_errors_are_compared() -> None:
    nb = new_notebook(cells=[new_code_cell("1/0", outputs=[
        new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])])])
    assert reproducibility.printed_lines(nb) == ["[cell 0] ERROR ZeroDivisionError: division by zero"]


def test_a_line_sent_in_two_stream_messages_is_one_line() -> None:
    """Under load the kernel may split one printed line over two stdout messages (a widget between them)."""
    def cell(*chunks):
        outs = [new_output("stream", name="stdout", text=chunks[0]),
                new_output("display_data", data={"text/plain": "bar"}),
                *[new_output("stream", name="stdout", text=c) for c in chunks[1:]]]
        return new_notebook(cells=[new_code_cell("...", outputs=outs)])
    whole = reproducibility.printed_lines(cell("probe 61.1%\nkNN 40.0%\n", ""))
    assert reproducibility.printed_lines(cell("probe 61.1%\nkNN ", "40.0%\n")) == whole == [
        "[cell 0] probe 61.1%", "[cell 0] kNN 40.0%", "[cell 0] bar"]

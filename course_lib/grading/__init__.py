"""Exercises from one source, and an autograder that fails closed.

    python -m course_lib.grading assign [--check]        solutions/ -> exercises/
    python -m course_lib.grading autograde SUBS --out OUT grade a folder of submissions
    python -m course_lib.grading validate NOTEBOOK        student side: run the visible tests

Modules: nbio (reading untrusted notebooks), files (untrusted folders, read and removed without
following links), assign, compose (what the grader runs), values (got* verdicts outside the
kernel), isolation + jail + cgroup (privilege separation), sandbox + worker + execute (isolated
runs), score, report, autograde, validate.
"""

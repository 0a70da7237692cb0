"""Behavioural checks that exercise cells call: one PASS/FAIL line per check, never the answer.

    from course_lib import checks
    checks.rotation_batch(rotate_batch)   # prints its checks, raises AssertionError if any failed
"""
from .masking import mask_tokens
from .pretext import knn_classifier, rotation_batch
from .report import Checker

__all__ = ["Checker", "knn_classifier", "mask_tokens", "rotation_batch"]

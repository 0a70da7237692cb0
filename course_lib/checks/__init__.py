"""Behavioural checks that exercise cells call: one PASS/FAIL line per check, never the answer.

    from course_lib import checks
    checks.rotation_batch(rotate_batch)   # prints its checks, raises CheckFailed if any failed

A failed check ends with one short message (CheckFailed, an AssertionError), and in a notebook a
cell that calls an exercise function still left as its stub says which function to write first
(report.py says how; importing this package in an IPython kernel installs that message).
"""
from .colour_bins import quantize_ab, rebalance_weights
from .contrastive import byol_loss, enqueue, momentum_update, nt_xent
from .few_labels import label_subset, weighted_knn
from .infonce import infonce_loss, mi_lower_bound
from .masking import mask_tokens
from .pretext import knn_classifier, rotation_batch
from .pretext_tasks import greedy_hamming, masked_reconstruction_loss, relative_position_sampler
from .report import Checker, CheckFailed, install_stub_message
from .saliency import saliency_map, saliency_share
from .word2vec import analogy_solver, negative_sampling_loss

__all__ = ["Checker", "CheckFailed", "install_stub_message", "knn_classifier", "rotation_batch"]
__all__ += ["greedy_hamming", "masked_reconstruction_loss", "relative_position_sampler"]
__all__ += ["nt_xent", "momentum_update", "enqueue", "byol_loss"]
__all__ += ["mask_tokens"]
__all__ += ["analogy_solver", "negative_sampling_loss"]
__all__ += ["saliency_map", "saliency_share", "weighted_knn", "label_subset"]
__all__ += ["quantize_ab", "rebalance_weights", "infonce_loss", "mi_lower_bound"]

install_stub_message()   # in a kernel: a call to an unwritten exercise function names it

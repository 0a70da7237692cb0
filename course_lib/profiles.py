"""The ONE table of every notebook's budget per profile.

Each notebook calls ``course_lib.setup("NN_name")`` and reads every size it uses from the returned
run (``run.n_train``, ``run.epochs``...), so this file is the only place where a notebook's scale is
set. Profiles:

- ``ci``:  what CI runs: offline data, 2 CPU cores, about a minute per notebook, still showing the lesson.
- ``cpu``: a student's laptop: offline data, a few minutes per notebook, clearer results.
- ``gpu``: the real course on one GPU (Colab or a workstation): real datasets at recipe scale.
"""
from __future__ import annotations

PROFILES: tuple[str, ...] = ("ci", "cpu", "gpu")

# Keys every image notebook's row carries; each value is read in the notebook as ``run.<key>``.
#   dataset       image set: "shapes" | "digits" | "cifar10" | "stl10" | "auto" (real data, offline fallback)
#   n_train/test  examples used (None: the whole split)
#   image_size    side in pixels the images are resized to
#   epochs        pretext-training epochs; time_budget_s stops training earlier if reached
#   batch_size, lr, width (encoder channels)
#   expected_min  minutes the whole notebook takes in this profile (shown in the banner)
_TOUR_CI = dict(dataset="shapes", n_train=2000, n_test=1000, image_size=32, epochs=4,
                batch_size=64, lr=2e-3, width=32, time_budget_s=40.0, expected_min=1.2)

_W2V_CI = dict(corpus="wiki", max_words=None, lm_vocab=2000, lm_context=4, lm_dim=32, lm_hidden=64,
               lm_epochs=2, lm_batch=512, lm_lr=3e-3, w2v_dim=100, w2v_window=5, w2v_negative=5,
               w2v_min_count=5, w2v_sample=1e-3, w2v_epochs=5, w2v_batch=2048, threads=1, pretrained=None,
               folds=10, time_budget_s=None, expected_min=1.5)

BUDGETS: dict[str, dict[str, dict]] = {
    "00_tour": {
        "ci": _TOUR_CI,
        "cpu": {**_TOUR_CI, "n_train": 5000, "n_test": 2000, "epochs": 8, "time_budget_s": 240.0,
                "expected_min": 5.0},
        "gpu": {**_TOUR_CI, "dataset": "auto", "n_train": None, "n_test": None, "epochs": 30,
                "batch_size": 512, "width": 64, "time_budget_s": 900.0, "expected_min": 15.0},
    },
    "00_pretext_warmup": {
        "ci": {**_TOUR_CI, "expected_min": 1.2},
        "cpu": {**_TOUR_CI, "n_train": 5000, "n_test": 2000, "epochs": 8, "time_budget_s": 240.0,
                "expected_min": 5.0},
        "gpu": {**_TOUR_CI, "dataset": "auto", "n_train": 20000, "n_test": 5000, "epochs": 20,
                "batch_size": 512, "width": 64, "time_budget_s": 600.0, "expected_min": 10.0},
    },
    # Notebooks 01-02 (word vectors). corpus: "wiki" (offline excerpt) | "auto" (text8 if it can be had).
    #   lm_*: the Bengio-style LM (lm_vocab words + <unk>, lm_context previous words);
    #   w2v_*: skip-gram/CBOW settings shared by ours and gensim's; threads: gensim workers = torch
    #   threads (1 in ci: gensim is reproducible only with one worker); pretrained: gensim-downloader name.
    #   w2v_batch stays <= 4096 pairs even on a GPU: larger batches of sparse SGD updates lose quality.
    "01_word2vec": {
        "ci": _W2V_CI,
        "cpu": {**_W2V_CI, "lm_epochs": 4, "w2v_epochs": 10, "threads": 2, "expected_min": 4.0},
        "gpu": {**_W2V_CI, "corpus": "auto", "max_words": None, "lm_vocab": 10000, "lm_dim": 64,
                "lm_hidden": 256, "lm_epochs": 5, "lm_batch": 2048, "w2v_epochs": 5, "w2v_batch": 4096,
                "threads": 2, "pretrained": "glove-wiki-gigaword-100", "time_budget_s": 1800.0,
                "expected_min": 25.0},
    },
    "01_negative_sampling": {  # ex_*: the exercise's autograd skip-gram
        "ci": {**_W2V_CI, "ex_dim": 50, "ex_epochs": 1, "ex_batch": 4096, "ex_lr": 0.01, "expected_min": 0.5},
        "cpu": {**_W2V_CI, "ex_dim": 50, "ex_epochs": 3, "ex_batch": 4096, "ex_lr": 0.01, "expected_min": 1.0},
        "gpu": {**_W2V_CI, "corpus": "auto", "max_words": 2_000_000, "ex_dim": 100, "ex_epochs": 2,
                "ex_batch": 8192, "ex_lr": 0.01, "expected_min": 5.0},
    },
    "02_embedding_geometry": {
        "ci": {**_W2V_CI, "expected_min": 1.0},
        "cpu": {**_W2V_CI, "w2v_epochs": 10, "expected_min": 2.0},
        "gpu": {**_W2V_CI, "corpus": "auto", "max_words": None, "w2v_batch": 4096,
                "pretrained": "glove-wiki-gigaword-100", "expected_min": 15.0},
    },
    "02_analogies": {
        "ci": {**_W2V_CI, "expected_min": 0.4},
        "cpu": {**_W2V_CI, "w2v_epochs": 10, "expected_min": 1.0},
        "gpu": {**_W2V_CI, "corpus": "auto", "max_words": 5_000_000, "w2v_batch": 4096, "expected_min": 5.0},
    },
}


def budget(notebook: str, profile: str) -> dict:
    """Return a copy of one notebook's budget row; clear errors for unknown names."""
    if notebook not in BUDGETS:
        raise ValueError(f"unknown notebook {notebook!r}; valid names: {', '.join(sorted(BUDGETS))}")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)} "
                         "(set COURSE_PROFILE or pass profile=)")
    return dict(BUDGETS[notebook][profile])

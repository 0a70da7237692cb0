"""Tiny-BERT pretraining at the ci and cpu budgets of notebook 03: tokens/s, held-out [MASK]-position
accuracy beside the frequency baseline, NSP accuracy, and attention-vs-LSTM-vs-conv layer timings.

    python benchmarks/bert.py [--profiles ci cpu]

Prints a table, then (last line) one JSON object: mask_acc, baseline_acc, nsp_acc, chosen_acc
(ci budget), tokens_per_s (ci run), per-profile figures, and the layer timings in ms.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from course_lib import data, profiles, training
from course_lib.text import bert
from course_lib.text.tokenizer import WordPiece


def pretrain(row: dict, seed: int = 0) -> dict:
    """Train the notebook's tokenizer and BERT under one budget row; return its held-out figures."""
    torch.manual_seed(seed)
    sentences = data.wiki_sentences()  # the offline corpus of the ci and cpu rows
    train_s, test_s = sentences[:-row["n_test_sentences"]], sentences[-row["n_test_sentences"]:]
    tok = WordPiece.train(train_s, vocab_size=row["vocab_size"])
    X, S, Y = bert.pretraining_pairs([tok.encode(s) for s in train_s], tok, max_len=row["max_len"], seed=seed)
    Xt, St, Yt = bert.pretraining_pairs([tok.encode(s) for s in test_s], tok, max_len=row["max_len"], seed=seed + 1)
    n = min(row["n_pairs"], len(X))
    cfg = bert.BertConfig(vocab_size=len(tok), max_len=row["max_len"], dim=row["dim"], n_layers=row["n_layers"],
                          n_heads=row["n_heads"], dropout=row["dropout"])
    model = bert.Bert(cfg)
    model.init_mlm_bias(X[:n], tok.special_ids)  # as the notebook: start at the frequency baseline
    g = torch.Generator().manual_seed(seed)
    hist = training.fit(model, lambda m, b: m.loss(*b, tok.special_ids, tok.mask_id, generator=g),
                        training.loader(X[:n], S[:n], Y[:n], batch_size=row["batch_size"], seed=seed),
                        epochs=row["epochs"], lr=row["lr"], progress=False)
    tokens = int((X[:n] != tok.pad_id).sum()) * hist.epochs_done
    top = bert.most_frequent_token(X[:n], tok.special_ids)
    acc = bert.mlm_accuracy(model, Xt, St, tok, baseline_id=top, seed=seed)
    return {**acc, "nsp_acc": bert.nsp_accuracy(model, Xt, St, Yt), "steps": len(hist.losses),
            "train_s": hist.seconds, "tokens_per_s": tokens / hist.seconds}


def main() -> None:
    """Run the budgets asked for, print the table, then the JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", nargs="+", default=["ci", "cpu"], choices=["ci", "cpu"])
    args = ap.parse_args()
    results = {}
    print(f"{'budget':<8}{'steps':>7}{'train s':>9}{'tokens/s':>10}{'[MASK] acc':>12}{'baseline':>10}"
          f"{'ratio':>7}{'all chosen':>12}{'NSP acc':>9}")
    for name in args.profiles:
        r = results[name] = pretrain(profiles.budget("03_bert", name))
        print(f"{name:<8}{r['steps']:>7}{r['train_s']:>9.1f}{r['tokens_per_s']:>10,.0f}{r['mask_acc']:>12.1%}"
              f"{r['baseline_acc']:>10.1%}{r['mask_acc'] / r['baseline_acc']:>7.2f}{r['chosen_acc']:>12.1%}"
              f"{r['nsp_acc']:>9.1%}")
    lengths = (32, 128, 512, 1024)
    t0 = time.perf_counter()
    timing = bert.time_layers(lengths, dim=64, batch=8, repeats=3)
    print(f"\nforward + backward of one layer, d=64, batch 8 (ms; {time.perf_counter() - t0:.1f} s in all)")
    print(f"{'layer':<20}" + "".join(f"{'n=' + str(n):>10}" for n in lengths))
    for layer, secs in timing.items():
        print(f"{layer:<20}" + "".join(f"{1e3 * s:>10.2f}" for s in secs))
    first = results[args.profiles[0]]
    out = {"budget": args.profiles[0], "mask_acc": first["mask_acc"], "baseline_acc": first["baseline_acc"],
           "nsp_acc": first["nsp_acc"], "chosen_acc": first["chosen_acc"], "tokens_per_s": first["tokens_per_s"],
           "by_budget": results, "layer_ms": {k: dict(zip(map(str, lengths), [1e3 * s for s in v]))
                                              for k, v in timing.items()}}
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()

"""Our skip-gram (course_lib.text.word2vec) against gensim's Word2Vec: same corpus, settings, threads.

Both train in this one process, one after the other, on the same sentences with the same
vocabulary rules (min_count, subsampling), window, negatives, epochs, learning-rate schedule and
seed; gensim gets `workers` threads and torch gets the same number. Speed is raw corpus tokens
times epochs per second of training wall time (and of CPU time, which a busy shared machine
distorts less); quality is WordSim353 Spearman, SimLex-999 Spearman and questions-words accuracy.

Two more figures: "analogy_matches_gensim", whether course_lib's analogy accuracy equals gensim's
`evaluate_word_analogies` on a mixed-case copy of gensim's vectors (every other word gets a second
casing, 'Paris' or 'PARIS', a noisy copy of its vector, sometimes ranked before it), and, only when
text8.zip is already in the course's data folder ($COURSE_DATA, default ~/.cache/ssl-course; never
downloaded here), "text8_3cosadd": the questions-words 3CosAdd accuracy of gensim's skip-gram with
the same settings on text8 (--text8-words words; with --corpus text8, the model above).

    python benchmarks/word2vec.py                       # Wikipedia excerpt, 5 epochs, 1 thread
    python benchmarks/word2vec.py --threads 2 --epochs 10
    python benchmarks/word2vec.py --corpus text8 --max-words 5000000   # needs the download
    python benchmarks/word2vec.py --no-text8            # skip text8 even when it is cached
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from course_lib.data import analogy_path  # noqa: E402
from course_lib.text import corpus as text_corpus  # noqa: E402
from course_lib.text import vectors, word2vec  # noqa: E402


def timed(train) -> tuple[object, float, float]:
    """Run train(); return its result, wall seconds and CPU seconds (all threads of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    model = train()
    return model, time.perf_counter() - wall, time.process_time() - cpu


def update_ops(vocab_size: int, dim: int, rows: int, threads: int, repeats: int = 50) -> dict[str, float]:
    """Milliseconds per sparse row update of a (V, D) table: index_add_ vs index_put_(accumulate=True)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    table = torch.zeros(vocab_size, dim)
    idx = torch.randint(vocab_size, (rows,), generator=g)
    upd = torch.randn(rows, dim, generator=g)
    ops = {"index_add_ms": lambda: table.index_add_(0, idx, upd),
           "index_put_ms": lambda: table.index_put_((idx,), upd, accumulate=True)}
    out = {}
    for name, op in ops.items():
        op()
        start = time.perf_counter()
        for _ in range(repeats):
            op()
        out[name] = 1e3 * (time.perf_counter() - start) / repeats
    torch.set_num_threads(old)
    return out


def evaluate(model) -> dict[str, float]:
    """WordSim353 and SimLex-999 Spearman, questions-words accuracy (3CosAdd) of one model."""
    wv = vectors.as_word_vectors(model)
    return {"wordsim353": vectors.similarity_spearman(wv, vectors.wordsim353_path()).spearman,
            "simlex999": vectors.similarity_spearman(wv, vectors.simlex999_path()).spearman,
            "analogy": vectors.analogy_accuracy(wv).accuracy()}


def mixed_case_copy(kv, seed: int = 0):
    """A gensim KeyedVectors holding every word of kv and, for every other word, a second casing.

    The second casing ('Paris' or 'PARIS') is the word's vector plus noise of a third of its size,
    placed right after the word or (one time in three) right before it, so that the first casing,
    whose vector the evaluation uses, is not always the lower-case one."""
    import numpy as np
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(seed)
    words, rows = [], []
    for word, vec in zip(kv.index_to_key, kv.vectors):
        entries = [(word, vec)]
        if rng.random() < 0.5:
            other = word.capitalize() if rng.random() < 0.5 else word.upper()
            if other != word and other not in kv.key_to_index:
                noisy = vec + np.linalg.norm(vec) / 3 * rng.normal(size=vec.shape) / np.sqrt(len(vec))
                entries.insert(0 if rng.random() < 1 / 3 else 1, (other, noisy))
        for w, v in entries:
            words.append(w)
            rows.append(v)
    mixed = KeyedVectors(vector_size=kv.vector_size)
    mixed.add_vectors(words, np.asarray(rows, dtype=np.float32))
    return mixed


def analogy_against_gensim(kv) -> dict[str, object]:
    """Our questions-words accuracy and gensim's evaluate_word_analogies on kv: equal per section?"""
    ours = vectors.analogy_accuracy(kv)
    score, sections = kv.evaluate_word_analogies(str(analogy_path()))
    theirs = {s["section"]: (len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in sections
              if s["section"] != "Total accuracy" and (s["correct"] or s["incorrect"])}
    correct = sum(c for c, _ in ours.sections.values())
    return {"words": len(kv.index_to_key), "ours": f"{correct}/{ours.answered}",
            "gensim": f"{sum(c for c, _ in theirs.values())}/{sum(n for _, n in theirs.values())}",
            "matches": ours.sections == theirs and abs(ours.accuracy() - score) < 1e-12}


def text8_cached() -> bool:
    """Whether text8.zip is already in the course's data folder (nothing is downloaded to find out)."""
    from course_lib.data.downloads import cache_dir
    return (cache_dir() / "text8.zip").exists()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="wiki", choices=["wiki", "text8"])
    parser.add_argument("--max-words", type=int, default=None, help="text8 only: the first N words")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="gensim workers = torch threads")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--text8-words", type=int, default=None,
                        help="text8_3cosadd: train on the first N words of text8 (default: all 17M)")
    parser.add_argument("--no-text8", action="store_true", help="no text8_3cosadd even when text8 is cached")
    args = parser.parse_args()

    sentences, note = text_corpus.load(args.corpus, max_words=args.max_words)
    n_tokens = sum(len(s) for s in sentences)
    settings = dict(vector_size=args.dim, window=args.window, min_count=5, negative=5, sample=1e-3, sg=1,
                    epochs=args.epochs, alpha=0.025, min_alpha=1e-4, seed=args.seed)
    print(f"corpus: {note}; {n_tokens:,} tokens; settings {settings}; threads {args.threads}")

    gensim_model, g_wall, g_cpu = timed(lambda: word2vec.gensim_word2vec(sentences, workers=args.threads, **settings))
    ours, o_wall, o_cpu = timed(lambda: word2vec.Word2Vec(sentences, workers=args.threads, progress=False,
                                                          batch_size=args.batch_size, **settings))
    work = n_tokens * args.epochs
    rows = {"gensim": (g_wall, g_cpu, evaluate(gensim_model)), "ours": (o_wall, o_cpu, evaluate(ours))}
    print(f"\n{'':8}{'tokens/s (wall)':>17}{'tokens/s (cpu)':>16}{'WordSim353':>12}{'SimLex999':>11}{'analogy':>9}")
    for name, (wall, cpu, q) in rows.items():
        print(f"{name:8}{work / wall:>17,.0f}{work / cpu:>16,.0f}{q['wordsim353']:>12.3f}"
              f"{q['simlex999']:>11.3f}{q['analogy']:>9.1%}")
    qg, qo = rows["gensim"][2], rows["ours"][2]
    ratio = lambda a, b: a / b if b else float("nan")  # noqa: E731
    figures = {
        "corpus": args.corpus, "tokens": n_tokens, "epochs": args.epochs, "threads": args.threads,
        "batch_size": args.batch_size, "vocab": len(ours.vocab),
        "ours_tokens_per_s": work / o_wall, "gensim_tokens_per_s": work / g_wall,
        "speed_ratio": g_wall / o_wall, "speed_ratio_cpu": g_cpu / o_cpu,
        "ours_wordsim": qo["wordsim353"], "gensim_wordsim": qg["wordsim353"],
        "wordsim_ratio": ratio(qo["wordsim353"], qg["wordsim353"]),
        "ours_simlex": qo["simlex999"], "gensim_simlex": qg["simlex999"],
        "ours_analogy": qo["analogy"], "gensim_analogy": qg["analogy"],
        "analogy_ratio": ratio(qo["analogy"], qg["analogy"]),
    }
    ops = update_ops(len(ours.vocab), args.dim, args.batch_size * 6, args.threads)
    figures.update(ops)

    mixed = analogy_against_gensim(mixed_case_copy(gensim_model.wv, seed=args.seed))
    figures["analogy_matches_gensim"] = mixed["matches"]
    print(f"\nanalogies on a mixed-case copy of gensim's vectors ({mixed['words']:,} words): course_lib "
          f"{mixed['ours']}, gensim evaluate_word_analogies {mixed['gensim']}: "
          f"{'the same, section by section' if mixed['matches'] else 'they DIFFER'}")
    if args.no_text8:
        print("text8: skipped (--no-text8)")
    elif args.corpus == "text8":
        figures["text8_3cosadd"] = qg["analogy"]
    elif text8_cached():
        words8, note8 = text_corpus.load("text8", max_words=args.text8_words)
        model8, wall8, _ = timed(lambda: word2vec.gensim_word2vec(words8, workers=args.threads, **settings))
        figures["text8_3cosadd"] = vectors.analogy_accuracy(model8.wv).accuracy()
        print(f"text8: {note8}; gensim skip-gram (same settings) in {wall8:.0f} s: "
              f"3CosAdd {figures['text8_3cosadd']:.1%}")
    else:
        print("text8: not in the data folder, so no text8_3cosadd (run with --corpus text8 to download it)")
    print(f"\nsparse update of {args.batch_size * 6:,} rows (one batch's output rows): "
          f"index_add_ {ops['index_add_ms']:.2f} ms, index_put_(accumulate=True) {ops['index_put_ms']:.2f} ms")
    print(f"ours / gensim: speed {figures['speed_ratio']:.2f}x (wall), {figures['speed_ratio_cpu']:.2f}x (cpu); "
          f"WordSim353 {figures['wordsim_ratio']:.2f}x; analogy {figures['analogy_ratio']:.2f}x")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()

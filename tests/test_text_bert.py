"""The tiny BERT: shapes, tied weights, masking rule, NSP pairs, padding, bad inputs, learning."""
from __future__ import annotations

import pytest
import torch

from course_lib import checks
from course_lib.claims import FAILS, HOLDS
from course_lib.text import bert
from course_lib.text.tokenizer import WordPiece

SENTENCES = [s.split() for s in [
    "the frog jumped into the pond", "frogs jump and jumping frogs jumped",
    "the toad is jumping near the pond", "a frog and a toad", "the ponds are full of frogs",
]]


@pytest.fixture(scope="module")
def tok() -> WordPiece:
    return WordPiece.train(SENTENCES, vocab_size=60, min_count=1)


def _model(tok: WordPiece, **kw) -> bert.Bert:
    torch.manual_seed(0)
    return bert.Bert(bert.BertConfig(vocab_size=len(tok), max_len=24, dim=32, n_layers=1, n_heads=2, **kw))


def test_shapes_and_tied_head(tok: WordPiece) -> None:
    m = _model(tok)
    ids = torch.randint(5, len(tok), (3, 10))
    h = m(ids, torch.zeros_like(ids))
    assert h.shape == (3, 10, 32)
    assert m.mlm_logits(h).shape == (3, 10, len(tok)) and m.nsp_logits(h).shape == (3, 2)
    assert m.mlm_transform[0].weight is not m.embed.tok.weight
    # tied: the output scores change when the input embedding table changes
    before = m.mlm_logits(h).detach().clone()
    with torch.no_grad():
        m.embed.tok.weight[7] += 1.0
    assert not torch.allclose(before[..., 7], m.mlm_logits(h)[..., 7])
    parts = m.embed.parts(ids, torch.zeros_like(ids))
    assert len(parts) == 3 and all(p.shape == (3, 10, 32) for p in parts)


def test_padding_does_not_change_real_tokens(tok: WordPiece) -> None:
    m = _model(tok, dropout=0.0).eval()
    ids = torch.randint(5, len(tok), (1, 8))
    padded = torch.cat([ids, torch.zeros(1, 5, dtype=torch.long)], 1)
    assert torch.allclose(m(ids)[0], m(padded)[0, :8], atol=1e-5)


def test_too_long_input_is_a_clear_error(tok: WordPiece) -> None:
    with pytest.raises(ValueError, match="max_len=24"):
        _model(tok)(torch.ones(1, 25, dtype=torch.long))


def test_masking_passes_the_exercise_checks() -> None:
    from _tools import own_copy
    checks.mask_tokens(own_copy(bert.mask_tokens))


def test_masking_needs_a_mask_token() -> None:
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        bert.mask_tokens(torch.ones(2, 3, dtype=torch.long), vocab_size=10, mask_id=9, special_ids=[0, 1])


def test_checks_catch_a_mask_only_rule() -> None:
    def mask_only(ids, *, vocab_size, mask_id, special_ids, p, generator):
        chosen = (torch.rand(ids.shape, generator=generator) < p) & ~torch.isin(ids, torch.tensor(special_ids))
        return torch.where(chosen, mask_id, ids), torch.where(chosen, ids, -100)
    with pytest.raises(AssertionError, match="80%"):
        checks.mask_tokens(mask_only)


def test_pretraining_pairs(tok: WordPiece) -> None:
    sents = [tok.encode(s) for s in SENTENCES * 40]
    ids, seg, is_next = bert.pretraining_pairs(sents, tok, max_len=16, seed=0)
    assert ids.shape == seg.shape == (len(sents) - 1, 16) and is_next.shape == (len(sents) - 1,)
    assert 0.35 < is_next.float().mean() < 0.65
    assert (ids[:, 0] == tok.cls_id).all() and ((ids == tok.sep_id).sum(1) == 2).all()
    i = int(is_next.nonzero()[0])                  # a true pair: segment B is sentence i+1
    b = ids[i][seg[i] == 1].tolist()[:-1]
    assert b == sents[i + 1][:len(b)]
    again = bert.pretraining_pairs(sents, tok, max_len=16, seed=0)
    assert torch.equal(again[0], ids) and torch.equal(again[2], is_next)
    with pytest.raises(ValueError, match="empty"):
        bert.pretraining_pairs([], tok, max_len=16)


def test_loss_falls_on_one_batch_and_metrics_run(tok: WordPiece) -> None:
    sents = [tok.encode(s) for s in SENTENCES * 8]
    ids, seg, is_next = bert.pretraining_pairs(sents, tok, max_len=24, seed=0)
    m = _model(tok)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(40):
        loss = m.loss(ids, seg, is_next, tok.special_ids, tok.mask_id, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    top = bert.most_frequent_token(ids, tok.special_ids)
    assert tok.pieces[top] == "the"
    acc = bert.mlm_accuracy(m, ids, seg, tok, baseline_id=top, seed=1)
    assert set(acc) == {"mask_acc", "chosen_acc", "baseline_acc", "n_mask"} and acc["n_mask"] > 0
    assert 0.0 <= bert.nsp_accuracy(m, ids, seg, is_next) <= 1.0
    top5 = bert.fill_mask(m, tok, "the frog [MASK] into the pond", k=5)
    assert len(top5) == 1 and len(top5[0]) == 5
    with pytest.raises(ValueError, match=r"no \[MASK\]"):
        bert.fill_mask(m, tok, "the frog jumped")


def test_finetune_cv_and_time_layers(tok: WordPiece) -> None:
    ids = torch.randint(5, len(tok), (20, 6))
    ids[:, 0] = tok.cls_id
    labels = torch.arange(20) % 2
    ids[labels == 1, 1] = tok.encode("frog")[0]     # a learnable cue: frog or toad after [CLS]
    ids[labels == 0, 1] = tok.encode("toad")[0]
    accs = bert.finetune_cv(lambda: _model(tok), ids, labels, folds=2, epochs=30, lr=3e-3, batch_size=10)
    assert len(accs) == 2 and sum(accs) / 2 >= 0.8    # chance is 0.5
    t = bert.time_layers([8, 16], dim=16, batch=2, repeats=2, seconds=0.0)
    assert set(t) == {"self-attention", "LSTM", "convolution (k=3)"} and all(len(v) == 2 for v in t.values())
    assert t.rounds == 2 and t.lengths == [8, 16] and all(s > 0 for v in t.values() for s in v)
    t = bert.time_layers([8], dim=16, batch=2, repeats=1, seconds=60.0, max_rounds=3)
    assert t.rounds == 3   # rounds go on past `repeats` while under `seconds`, never past max_rounds


def test_start_values(tok: WordPiece) -> None:
    m = _model(tok)
    table = bert.sinusoids(24, 32)
    assert torch.allclose(m.embed.pos.weight, 0.3 * table)
    assert torch.allclose(table[:, 1::2][0], torch.ones(16))       # cos(0) = 1 at position 0
    ids = torch.tensor([[tok.cls_id] + tok.encode("the the the frog") + [tok.sep_id]])
    m.init_mlm_bias(ids, tok.special_ids)
    assert int(m.mlm_bias.argmax()) == tok.encode("the")[0] and (m.mlm_bias[tok.special_ids] == -10).all()


def test_polarity_sentences() -> None:
    from course_lib.data.text import polarity_sentences

    sentences, labels = polarity_sentences()
    assert len(sentences) == len(labels) == 200 and sum(labels) == 100
    assert all(s and all(w.isalpha() and w == w.lower() for w in s) for s in sentences)


def _timings(attention_power: float, lstm_power: float, lengths=(32, 128, 512)) -> "bert.LayerTimings":
    secs = {"self-attention": [1e-6 * n ** attention_power for n in lengths],
            "LSTM": [1e-5 * n ** lstm_power for n in lengths],
            "convolution (k=3)": [2e-6 * n for n in lengths]}
    return bert.LayerTimings(lengths, secs, rounds=7)


def test_slopes_and_verdicts_follow_the_figures() -> None:
    assert bert.loglog_slope([10, 100, 1000], [1, 100, 10_000]) == pytest.approx(2.0)
    assert bert.loglog_slope([32, 64], [3.0, 3.0]) == pytest.approx(0.0)
    lines = bert.timing_verdict(_timings(2.0, 1.0))
    assert "best of 7 rounds" in lines[0] and "self-attention 2.00 | 2.00" in lines[0] and "LSTM 1.00 | 1.00" in lines[0]
    assert lines[1].startswith(f"{HOLDS}: at the largest lengths self-attention's time grows faster")
    assert lines[2].startswith(f"{HOLDS}: the LSTM's time grows about linearly")
    flat = bert.timing_verdict(_timings(1.0, 1.6))        # what a loaded machine can print: no claim survives
    assert flat[1].startswith(f"{FAILS}: at the largest lengths") and "slope 1.00 vs 1.60" in flat[1]
    assert flat[2].startswith(f"{FAILS}: the LSTM's time grows about linearly") and "slope 1.60" in flat[2]
    # the same positive sentence either way, never a double negative
    assert [x.split(": ", 1)[1].split("  [")[0] for x in lines[1:]] == [x.split(": ", 1)[1].split("  [")[0] for x in flat[1:]]
    with pytest.raises(ValueError, match="two lengths"):
        bert.timing_verdict(_timings(2.0, 1.0, lengths=(32,)))


@pytest.mark.parametrize("attention_power, lengths", [(2.0, (32, 128, 512)), (2.0, (16, 32)), (3.5, (32, 128, 512, 1024)),
                                                      (1.05, (32, 128, 512))])
def test_timing_plot_has_readable_log_axes(attention_power, lengths) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = bert.plot_layer_timings(_timings(attention_power, 1.0, lengths))
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for axis in (ax.xaxis, ax.yaxis):
        labels = [t for t in axis.get_ticklabels(which="both") if t.get_visible() and t.get_text()]
        lo, hi = (ax.get_xlim() if axis is ax.xaxis else ax.get_ylim())
        labels = [t for t in labels if lo <= (t.get_position()[0] if axis is ax.xaxis else t.get_position()[1]) <= hi]
        assert len(labels) >= 2, f"fewer than two labelled ticks on the {axis.axis_name} axis"
        boxes = [t.get_window_extent(renderer) for t in labels]
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), \
            f"overlapping tick labels on the {axis.axis_name} axis: {[t.get_text() for t in labels]}"
    assert [t.get_text() for t in ax.xaxis.get_ticklabels()] == [str(n) for n in lengths]
    plt.close(fig)

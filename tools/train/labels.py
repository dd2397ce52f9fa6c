"""Feature labels from ground truth, written in Neuronpedia's feature shape.

A feature's label is the latent variable whose token set best matches the tokens where the feature
fires: probes at every position of held-out text against every latent the generator records there
(plus derived ones: `city_in_state:S` at a city token), scored by F1 of the two binary indicators, with
precision and recall beside it. Its examples are the held-out contexts where it fires most, one per
distinct sentence; its top logits are its decoder direction read through the final-norm gain and the
unembedding, ranked after standardising each token's effect across the dictionary's features (tokens
whose unembedding dominates every feature's list would otherwise head every list).

A latent `predict:X` (the next word is X) is named "predicts X" only when the feature's decoder really
promotes X (X in its top 10 tokens, raw or standardised); otherwise "next word is X": the feature
detects the answer without writing it.
"""

import json
import os

import torch


def _pretty(latent, writes=True):
    if latent.startswith("context:"):
        return "context: " + _pretty(latent[len("context:"):])
    if latent.startswith("predict:") and not writes:
        return "next word is " + latent[len("predict:"):]
    kind, _, value = latent.partition(":")
    names = {"city": "the city", "state": "the state", "capital": "the capital", "name": "the name",
             "operand": "operand", "sum": "the sum", "number": "the number", "square": "the square",
             "bucket": "square bucket", "colour": "colour", "shape": "shape", "size": "size", "animal": "animal",
             "object": "object", "predict": "predicts", "word": "the word", "task": "task",
             "city_in_state": "a city in"}
    if not value:
        return kind
    return f"{names.get(kind, kind)} {value.replace('_', ' ')}"


class Labeller:
    def __init__(self, ids, latents, inv_vocab, n_examples=5, window=12):
        """ids [S, T] (with BOS at 0); latents: per sequence, per position, a list of latent names.
        Activations passed later are flattened [S*(T-1), F] with BOS dropped, in the same order."""
        self.ids = ids
        self.inv_vocab = inv_vocab
        self.n_examples = n_examples
        self.window = window
        S, T = ids.shape
        self.T = T
        names = {}
        rows, cols = [], []
        tok = 0
        for s in range(S):
            for t in range(1, T):
                lats = list(latents[s][t]) + ["word:" + inv_vocab[int(ids[s, t])]]
                # "This city is in state S", only at the city token (state:S alone also holds on the
                # state's own name and on capitals).
                if any(x.startswith("city:") for x in lats):
                    lats += ["city_in_state:" + x[len("state:"):] for x in lats if x.startswith("state:")]
                for lat in lats:
                    j = names.setdefault(lat, len(names))
                    rows.append(tok)
                    cols.append(j)
                tok += 1
        self.names = [None] * len(names)
        for k, j in names.items():
            self.names[j] = k
        self.n_tok = tok
        idx = torch.tensor([rows, cols])
        self.L = torch.sparse_coo_tensor(idx, torch.ones(len(rows)), (tok, len(names))).coalesce()
        self.lat_count = torch.sparse.sum(self.L, 0).to_dense()
        self.is_word = torch.tensor([n.startswith("word:") for n in self.names])

    def best_latents(self, acts):
        """Per feature: best F1 over every latent, its index, the feature's firing count, and the
        precision and recall of that latent (co-occurrences over firings / over the latent's tokens)."""
        active = (acts > 0).float()
        co = torch.sparse.mm(self.L.t(), active).t()  # [F, n_latents]
        n_feat = active.sum(0)
        f1 = 2 * co / (n_feat[:, None] + self.lat_count[None, :]).clamp(min=1)
        # Prefer a semantic latent over the bare token identity when they explain the feature equally well.
        score, j = (f1 - 1e-4 * self.is_word.float()[None, :]).max(1)
        hits = co.gather(1, j[:, None])[:, 0]
        precision = hits / n_feat.clamp(min=1)
        recall = hits / self.lat_count[j].clamp(min=1)
        return f1.gather(1, j[:, None])[:, 0], j, n_feat, precision, recall

    def _sentence(self, s, t):
        """The words of the sentence holding position t of sequence s (between full stops)."""
        row = [self.inv_vocab[int(i)] for i in self.ids[s]]
        lo = t
        while lo > 1 and row[lo - 1] != ".":
            lo -= 1
        hi = t
        while hi < len(row) - 1 and row[hi] != ".":
            hi += 1
        return " ".join(row[lo:hi + 1])

    def examples(self, acts, f):
        col = acts[:, f]
        k = min(self.n_examples * 40, int((col > 0).sum()))
        if k == 0:
            return []
        vals, flat = col.topk(k)
        out, used, sentences = [], set(), set()
        for v, p in zip(vals.tolist(), flat.tolist()):
            s, t = divmod(p, self.T - 1)
            t += 1
            if s in used:
                continue
            # One example per distinct sentence: the same sentence recurs across sequences.
            sent = self._sentence(s, t)
            if sent in sentences:
                continue
            used.add(s)
            sentences.add(sent)
            lo, hi = max(0, t - self.window), min(self.T, t + 3)
            seq_vals = [0.0] + col[s * (self.T - 1): (s + 1) * (self.T - 1)].tolist()
            out.append({"tokens": [self.inv_vocab[int(i)] for i in self.ids[s, lo:hi]],
                        "values": [round(x, 3) + 0.0 for x in seq_vals[lo:hi]],
                        "maxValue": round(v, 3) + 0.0})
            if len(out) == self.n_examples:
                break
        return out


def standardise(logit_dirs):
    """Each token's effect standardised across the features: (x - mean_f) / std_f, per token."""
    mean = logit_dirs.mean(0, keepdim=True)
    std = logit_dirs.std(0, unbiased=False, keepdim=True)
    return (logit_dirs - mean) / torch.where(std > 0, std, torch.ones_like(std))


def write_layer(folder, layer, acts, logit_dirs, lab, k_logits=10):
    """acts [tokens, F] on the labeller's text; logit_dirs [F, vocab] = W_dec . diag(final-norm gain) .
    (W_U - mean W_U). Returns per-feature (latent, F1) for the report."""
    os.makedirs(folder, exist_ok=True)
    score, best, n_feat, precision, recall = lab.best_latents(acts)
    logit_dirs = logit_dirs - logit_dirs.mean(1, keepdim=True)
    z = standardise(logit_dirs)
    vocab_ids = {w: i for i, w in lab.inv_vocab.items()}
    against = f"ground-truth latents at every position of {lab.n_tok} held-out tokens"
    feats, summary = [], []
    for f in range(acts.shape[1]):
        top = z[f].topk(k_logits)
        bot = (-z[f]).topk(k_logits)
        alive = n_feat[f].item() > 0
        latent = lab.names[int(best[f])] if alive else None
        writes = True
        if latent and latent.startswith("predict:"):
            x = vocab_ids.get(latent[len("predict:"):])
            writes = x is not None and (x in logit_dirs[f].topk(k_logits).indices.tolist() or x in top.indices.tolist())
        summary.append((latent, score[f].item() if alive else 0.0))
        feats.append({
            "layer": layer,
            "index": f,
            "explanations": [{"description": _pretty(latent, writes) if alive else ""}],
            "label_score": round(score[f].item(), 3) if alive else 0.0,
            "label_f1": round(score[f].item(), 3) if alive else 0.0,
            "label_precision": round(precision[f].item(), 3) if alive else 0.0,
            "label_recall": round(recall[f].item(), 3) if alive else 0.0,
            "label_scored_against": against,
            "latent": latent,
            "activations": lab.examples(acts, f) if alive else [],
            # Ranked by the standardised effect; the values are the raw direct effects (logit units).
            "logits_ranked_by": "each token's effect standardised across the layer's features",
            "pos_str": [lab.inv_vocab[int(i)] for i in top.indices],
            "pos_values": [round(logit_dirs[f, i].item(), 3) for i in top.indices],
            "neg_str": [lab.inv_vocab[int(i)] for i in bot.indices],
            "neg_values": [round(logit_dirs[f, i].item(), 3) for i in bot.indices],
            "pos_z": [round(v, 3) for v in top.values.tolist()],
            "neg_z": [round(-v, 3) for v in bot.values.tolist()],
            "frac_nonzero": round(n_feat[f].item() / lab.n_tok, 5),
        })
    with open(os.path.join(folder, f"layer_{layer}.json"), "w") as fh:
        json.dump(feats, fh, separators=(",", ":"))
    return summary


def quality_rows(summaries, threshold=0.5):
    """summaries: {dictionary name: {layer: [(latent, f1) per feature]}} -> table rows."""
    rows = []
    for name, layers in summaries.items():
        for layer, feats in layers.items():
            alive = [x for x in feats if x[0] is not None]
            good = [x for x in alive if x[1] >= threshold]
            rows.append({"dictionary": name, "layer": layer, "features": len(feats), "alive": len(alive),
                         "labelled": len(good), "distinct_latents": len({x[0] for x in good}),
                         "median_f1": round(sorted(x[1] for x in alive)[len(alive) // 2], 3) if alive else 0.0})
    return rows


def quality_markdown(q):
    lines = ["## Label quality", "",
             f"Labels: {q['method']}", "",
             f"| dictionary | layer | features | alive | label F1 ≥ {q['threshold']} | distinct latents among them | median F1 (alive) |",
             "|---|---|---|---|---|---|---|"]
    for r in q["rows"]:
        lines.append(f"| {r['dictionary']} | {r['layer']} | {r['features']} | {r['alive']} | {r['labelled']} | "
                     f"{r['distinct_latents']} | {r['median_f1']:.3f} |")
    if "states" in q:
        s = q["states"]
        lines += ["", f"City in state S (probe at the city token): {s['covered']} of {s['total']} states have a transcoder "
                  f"feature whose best label is `city_in_state:S` with F1 ≥ {q['threshold']}"
                  + (f" ({', '.join(s['names'])})" if s['names'] else "") + "."]
        if "scoped_covered" in s:
            lines += ["", f"The same probe scored only at city tokens (fires on the cities of S vs on other cities, whatever the "
                      f"feature does elsewhere): {s['scoped_covered']} of {s['total']} states have a transcoder feature with F1 ≥ "
                      f"{q['threshold']}. The gap is features that also fire on the state's name or carry it forward: their "
                      "best label over all positions is `state:S` or `context: …`, not the city-only latent."]
    return "\n".join(lines) + "\n"


def report_markdown(r):
    lines = [f"# {r['model']}: held-out accuracy and dictionary quality", "",
             f"{r['params']} parameters. {r['accuracy_definition']}.", "",
             "| task | n | accuracy | held-out composition | trained composition |", "|---|---|---|---|---|"]
    for task, a in r["accuracy"].items():
        h = a.get("held_out_composition")
        t = a.get("trained_composition")
        lines.append(f"| {task} | {a['n']} | {a['accuracy']:.3f} | "
                     f"{'%.3f (n=%d)' % (h['accuracy'], h['n']) if h else '-'} | "
                     f"{'%.3f (n=%d)' % (t['accuracy'], t['n']) if t else '-'} |")
    d = r["dictionaries"]
    lines += ["", f"FVU: {r['fvu_definition']}.", "", f"Loss: {r['loss_definition']}.", "",
              "| dictionary | features | L0 per layer | FVU per layer | dead | loss clean → spliced |",
              "|---|---|---|---|---|---|"]

    def fmt(v):
        return ", ".join(f"{x:.3f}" for x in v) if isinstance(v, list) else f"{v:.3f}"

    t = d["transcoders"]
    lines.append(f"| transcoders | {t['d_transcoder']} | {fmt(t['l0'])} | {fmt(t['fvu'])} | {fmt(t['dead_fraction'])} | "
                 f"{t['loss_clean']:.3f} → {t['loss_spliced']:.3f} (one layer: {fmt(t['loss_spliced_per_layer'])}) |")
    c = d["clt"]
    lines.append(f"| CLT | {c['d_transcoder']} | {fmt(c['l0'])} | {fmt(c['fvu'])} | {fmt(c['dead_fraction'])} | "
                 f"{c['loss_clean']:.3f} → {c['loss_spliced']:.3f} |")
    s = d["sae"]
    lines.append(f"| SAE {s['hook_name']} | {s['d_sae']} | {fmt(s['l0'])} | {fmt(s['fvu'])} | {fmt(s['dead_fraction'])} | "
                 f"{s['loss_clean']:.3f} → {s['loss_spliced']:.3f} |")
    if "timings_s" in r:
        lines += ["", "Wall time per stage (s): " + ", ".join(f"{k} {v}" for k, v in r["timings_s"].items())]
    out = "\n".join(lines) + "\n"
    if "label_quality" in r:
        out += "\n" + quality_markdown(r["label_quality"])
    return out

"""Feature labels from ground truth, written in Neuronpedia's feature shape.

A feature's label is the latent variable whose token set best matches the tokens where the feature
fires (F1 of the two binary indicators over held-out text); its examples are the held-out contexts
where it fires most; its top logits are its decoder direction read through the unembedding.
"""

import json
import os

import torch


def _pretty(latent):
    if latent.startswith("context:"):
        return "context: " + _pretty(latent[len("context:"):])
    kind, _, value = latent.partition(":")
    names = {"city": "the city", "state": "the state", "capital": "the capital", "name": "the name",
             "operand": "operand", "sum": "the sum", "number": "the number", "square": "the square",
             "bucket": "square bucket", "colour": "colour", "shape": "shape", "size": "size", "animal": "animal",
             "object": "object", "predict": "predicts", "word": "the word", "task": "task"}
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
        active = (acts > 0).float()
        co = torch.sparse.mm(self.L.t(), active).t()  # [F, n_latents]
        n_feat = active.sum(0)
        f1 = 2 * co / (n_feat[:, None] + self.lat_count[None, :]).clamp(min=1)
        # Prefer a semantic latent over the bare token identity when they explain the feature equally well.
        f1 = f1 - 1e-4 * self.is_word.float()[None, :]
        score, j = f1.max(1)
        return score, j, n_feat

    def examples(self, acts, f):
        col = acts[:, f]
        k = min(self.n_examples * 4, int((col > 0).sum()))
        if k == 0:
            return []
        vals, flat = col.topk(k)
        out, used = [], set()
        for v, p in zip(vals.tolist(), flat.tolist()):
            s, t = divmod(p, self.T - 1)
            t += 1
            if s in used:
                continue
            used.add(s)
            lo, hi = max(0, t - self.window), min(self.T, t + 3)
            seq_vals = [0.0] + col[s * (self.T - 1): (s + 1) * (self.T - 1)].tolist()
            out.append({"tokens": [self.inv_vocab[int(i)] for i in self.ids[s, lo:hi]],
                        "values": [round(x, 3) + 0.0 for x in seq_vals[lo:hi]],
                        "maxValue": round(v, 3) + 0.0})
            if len(out) == self.n_examples:
                break
        return out


def write_layer(folder, layer, acts, logit_dirs, lab, k_logits=10):
    """acts [tokens, F] on the labeller's text; logit_dirs [F, vocab] = W_dec . unembed."""
    os.makedirs(folder, exist_ok=True)
    score, best, n_feat = lab.best_latents(acts)
    feats = []
    for f in range(acts.shape[1]):
        top = logit_dirs[f].topk(k_logits)
        bot = (-logit_dirs[f]).topk(k_logits)
        alive = n_feat[f].item() > 0
        latent = lab.names[int(best[f])] if alive else None
        feats.append({
            "layer": layer,
            "index": f,
            "explanations": [{"description": _pretty(latent) if alive else ""}],
            "label_score": round(score[f].item(), 3) if alive else 0.0,
            "latent": latent,
            "activations": lab.examples(acts, f) if alive else [],
            "pos_str": [lab.inv_vocab[int(i)] for i in top.indices],
            "pos_values": [round(v, 3) for v in top.values.tolist()],
            "neg_str": [lab.inv_vocab[int(i)] for i in bot.indices],
            "neg_values": [round(-v, 3) for v in bot.values.tolist()],
            "frac_nonzero": round(n_feat[f].item() / lab.n_tok, 5),
        })
    with open(os.path.join(folder, f"layer_{layer}.json"), "w") as fh:
        json.dump(feats, fh, separators=(",", ":"))


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
    return "\n".join(lines) + "\n"

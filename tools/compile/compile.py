"""Compile the ground-truth models: hand-set Llama checkpoints with known circuits.

  /usr/bin/python3 tools/compile/compile.py --out models/compiled [--only two-hop,...] [--dicts]

For each circuit (circuits.py) it writes <out>/<name>/: config.json, model.safetensors, tokenizer.json
(Hugging Face layout, loaded by the engine like any Llama) and circuit.json (the ground truth: variables,
per-prompt positions, active variables and edges). Each model is then run by an independent PyTorch
Llama (tools/train/model.py) and must answer every prompt of its task, with every ground-truth variable
on where circuit.json says it is and off elsewhere at its position; otherwise compiling fails.

With --dicts, JumpReLU transcoders (transcoders/) and a cross-layer transcoder (clt/) are trained on the
model's activations by tools/train/dictionaries.py's trainer, and each feature is labelled with the
ground-truth variable it matches best (F1 at the variable's layer and position over the task's prompts).
"""

import argparse
import json
import os
import random
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "train"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import circuits  # noqa: E402
import common  # noqa: E402
import tokenizer_io  # noqa: E402

DESCRIPTIONS = {
    "two-hop": "city → state (layer 0 MLP) → capital (layer 1 MLP) at the city token, moved to the last position "
               "by attention layer 2 head 0",
    "induction": "previous-token head (layer 0) + 'previous token was A' (layer 0 MLP); induction head (layer 1) "
                 "copies the token after the earlier A; 'say B' (layer 1 MLP)",
    "colour-shape": "atomic colour and shape variables (layer 0 MLP) moved to the last position by two heads and "
                    "composed there into one of 9 objects (layer 1 MLP)",
    "x-squared": "x² by a piecewise-linear layer 0 MLP (one ReLU unit per knot), moved to the last position by a "
                 "head and read out by a quadratic unembedding",
    "two-hop-noisy": "two-hop with 32 cities in 8 states, 96 residual directions in superposition "
                     "in 78 dimensions (d_model 80), each state split over two neurons, distractor neurons and Gaussian weight noise (10 % of each matrix's rms entry)",
}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def encode(b, text):
    return tokenizer_io.encode(b.vocab, text)


@torch.no_grad()
def run(model, ids):
    cache = {}
    logits = model(torch.tensor([ids]), cache=cache)
    return logits[0], {k: v[0] for k, v in cache.items()}


def build(name, folder):
    b, prompts, variables, edges_doc = circuits.CIRCUITS[name]()
    rng = np.random.default_rng(11)
    noisy = name.endswith("-noisy")
    if noisy:
        b.add_noise(0.1, rng)
    sd, d_mlp = b.state_dict(mlp_noise=0.1 if noisy else 0.0, rng=rng)
    b.save(folder, sd, d_mlp)
    model, _ = common.load_model(folder)
    if name == "x-squared":
        calibrate_square(b, model, variables, folder)
        model, _ = common.load_model(folder)
    return b, model, prompts, variables, edges_doc


def calibrate_square(b, model, variables, folder):
    """The values y takes at the last position, in the units layer 1's MLP reads them (the component along
    `yout` over the component along `one`, times A: the norm cancels), then the plateaus set on them."""
    yout, one = b.dir("yout"), b.dir("one")
    ys = {}
    for n in range(0, circuits.N_SQUARE + 1):
        _, cache = run(model, encode(b, f"{n} squared is"))
        x = cache["blocks.1.ln2.hook_normalized"][-1].double().numpy()
        ys[n] = float(x @ yout) / float(x @ one) * b.A
    circuits.square_readout(b, variables, ys)
    sd, d_mlp = b.state_dict()
    b.save(folder, sd, d_mlp)


def check(b, model, prompts, variables, off_max=0.1):
    """Every prompt answered (top-1) and every feature variable on exactly where circuit.json says, at its
    role's position: on = the MLP writes ≥ 0.5 along its direction (or, for units that share a direction
    or in superposition, one of its own units is active ≥ 0.5, a margin of ~0.15 past its threshold);
    off = ≤ 0.1."""
    # off_max: the noisy model's interference leaves weak spurious activity (≤ 0.3) in some off units.
    failures, margins = [], []
    feats = {k: v for k, v in variables.items() if v["kind"] == "feature"}
    dirs = [v["direction"] for v in feats.values()]
    shared = [d for d in dirs if dirs.count(d) > 1]
    for p in prompts:
        ids = encode(b, p["prompt"])
        assert tokenizer_io.UNK not in ids, p["prompt"]
        logits, cache = run(model, ids)
        last = logits[-1]
        ans = b.tok(p["answer"])
        top = int(last.argmax())
        srt = torch.sort(last, descending=True).values
        margins.append(float(srt[0] - srt[1]) if top == ans else float(last[ans] - srt[0]))
        if top != ans:
            failures.append(f"{p['prompt']!r} → {b.inv[top]} (want {p['answer']})")
        for vid, v in feats.items():
            pos = p["positions"][v["role"]]
            if v["direction"] in shared or b.superpose:
                # The variable's own units (x²'s knots share a direction; superposed directions overlap).
                act = max(neuron_activation(model, cache, v["layer"], pos, j) for j in v["neurons"])
            else:  # what the MLP writes along the variable's direction
                act = float(cache[f"blocks.{v['layer']}.hook_mlp_out"][pos].double().numpy() @ np.array(v["direction"]))
            want = vid in p["active"]
            if want and act < 0.5 or not want and act > off_max:
                failures.append(f"{p['prompt']!r}: {vid} unit activation {act:.2f} at {pos} (want {'on' if want else 'off'})")
    return failures, margins


def neuron_activation(model, cache, layer, pos, j):
    mlp = model.model.layers[layer].mlp
    x = cache[f"blocks.{layer}.ln2.hook_normalized"][pos]
    return float(torch.nn.functional.silu(mlp.gate_proj.weight[j] @ x) * (mlp.up_proj.weight[j] @ x))


# -------------------------------------------------------------------------------------------------
# Dictionaries


def corpus(b, prompts, rng, n_seqs):
    """Training text: the task's sentences (prompt + answer), 80 %, and random token strings, 20 %."""
    words = [w for w in b.vocab if w not in tokenizer_io.SPECIALS]
    seqs = []
    for _ in range(n_seqs):
        if rng.random() < 0.8:
            p = prompts[rng.randrange(len(prompts))]
            seqs.append(encode(b, p["prompt"] + " " + p["answer"]))
        else:
            seqs.append(encode(b, " ".join(rng.choice(words) for _ in range(rng.randint(3, 9)))))
    return seqs


@torch.no_grad()
def collect(model, seqs, L):
    """Hook activations per token (BOS dropped), in sequence order."""
    acts = {}
    for ids in seqs:
        _, cache = run(model, ids)
        for l in range(L):
            for k in (f"blocks.{l}.ln2.hook_normalized", f"blocks.{l}.hook_mlp_out"):
                acts.setdefault(k, []).append(cache[k][1:])
    return {k: torch.cat(v) for k, v in acts.items()}


def uncentre(d, mus):
    """Folds the training-time input centring into the encoder bias: (x − μ)·W + b = x·W + (b − μ·W).
    Centred inputs have (almost) no component along the mean, so each encoder row's component along it
    is untrained initialisation; it is removed first. Otherwise it would read the constant `one`
    direction, whose value every position gets from BOS, and every feature would carry a random edge
    from BOS's embedding."""
    for L, mu in zip(d["layers"], mus):
        u = mu / mu.norm()
        L["W_enc"] = L["W_enc"] - (L["W_enc"] @ u)[:, None] * u[None, :]
        L["b_enc"] = L["b_enc"] - L["W_enc"] @ mu
    return d


def empty_dict(n_feat, d):
    """The transcoder of a layer whose MLP does nothing: no feature ever fires, the output is zero."""
    z = torch.zeros
    return {"layers": [{"W_enc": z(n_feat, d), "b_enc": z(n_feat), "threshold": torch.ones(n_feat), "W_dec": z(n_feat, 1, d)}],
            "b_dec": z(1, d)}


def train_dicts(name, b, model, prompts, variables, folder, quick=False):
    import dictionaries as D
    common.setup_torch(1234, 1)
    rng = random.Random(5)
    seqs = corpus(b, prompts, rng, 400 if quick else 1500)
    acts = collect(model, seqs, b.L)
    log(f"{name}: {acts['blocks.0.ln2.hook_normalized'].shape[0]} training tokens")
    # Widths a little above the number of units each layer computes (wider dictionaries split the
    # variables into per-token pieces); L1 on top of the L0 target keeps features from firing where the
    # MLP does nothing.
    n_feat = {"two-hop": 16, "induction": 32, "colour-shape": 24, "x-squared": 16, "two-hop-noisy": 40}[name]
    cfg = {"d_features": n_feat, "steps": 300 if quick else 1500, "batch": 256, "lr": 0.003, "target_l0": 1,
           "l0_coef_init": 0.02, "init_threshold": 1.0, "eps": 1.0, "resample_every": 250, "resample_until": 0.5,
           "log_every": 1000, "l0_rate": 0.0, "l1_coef": 0.03}
    # Inputs centred while training (the constant `one` direction otherwise dominates every pre-activation,
    # features fire everywhere and JumpReLU's threshold gradient, which lives near the threshold, never
    # reaches them); the mean is folded back into b_enc, so the saved dictionaries read raw inputs.
    raw = [acts[f"blocks.{l}.ln2.hook_normalized"] for l in range(b.L)]
    mu = [x.mean(0) for x in raw]
    xs = [x - m for x, m in zip(raw, mu)]
    ys = [acts[f"blocks.{l}.hook_mlp_out"] for l in range(b.L)]
    tcs = [uncentre(D.train_dict([xs[l]], [ys[l]], [1], cfg, 100 + l, lambda m: log(f"  tc L{l}{m}")), [mu[l]])
           if ys[l].abs().max() > 0 else empty_dict(n_feat, b.d) for l in range(b.L)]
    D.save_transcoders(tcs, os.path.join(folder, "transcoders"), name)
    clt = uncentre(D.train_dict(xs, ys, [b.L - l for l in range(b.L)], cfg, 200, lambda m: log(f"  clt{m}")), mu)
    D.save_clt(clt, os.path.join(folder, "clt"), name)
    fold_constants(b, model, prompts, folder)
    for kind, encs in (("transcoders", [lambda x, l=l: D.encode(tcs[l], 0, x) for l in range(b.L)]),
                       ("clt", [lambda x, l=l: D.encode(clt, l, x) for l in range(b.L)])):
        write_labels(b, model, prompts, variables, encs, os.path.join(folder, kind, "features"))


def fold_constants(b, model, prompts, folder):
    """Encoders read no constant direction: the components of each encoder row along `one` and `present`
    (which every position past BOS carries, so they only bias) move into b_enc at their mean values over
    the training text. Otherwise every feature gets an edge from BOS's embedding (whose `one` layer 0's
    bias head copies everywhere) and from its own token's embedding (`present`), which take influence
    from the circuit's edges though they only set thresholds; the bias of a transcoder is not an edge."""
    import st_io
    seqs = corpus(b, prompts, random.Random(5), 300)
    acts = collect(model, seqs, b.L)
    C = torch.stack([torch.from_numpy(b.dir(n)).float() for n in ("one", "present")])  # orthonormal rows
    for kind in ("transcoders", "clt"):
        for l in range(b.L):
            mu = acts[f"blocks.{l}.ln2.hook_normalized"].mean(0)
            path = os.path.join(folder, kind, f"layer_{l}.safetensors" if kind == "transcoders" else f"W_enc_{l}.safetensors")
            w = {k: torch.from_numpy(v) for k, v in st_io.load(path).items()}
            kw, kb = ("W_enc", "b_enc") if kind == "transcoders" else (f"W_enc_{l}", f"b_enc_{l}")
            W = w[kw]
            WC = W @ C.T  # [F, 2]
            w[kw] = W - WC @ C
            w[kb] = w[kb] + WC @ (C @ mu)
            st_io.save(w, path)


def relabel(b, model, prompts, variables, folder):
    """Labels for dictionaries already on disk (transcoders/layer_i, clt/W_enc_i)."""
    import dictionaries as D
    import st_io
    t = lambda a: torch.from_numpy(a)  # noqa: E731
    for kind in ("transcoders", "clt"):
        encs = []
        for l in range(b.L):
            if kind == "transcoders":
                w = st_io.load(os.path.join(folder, kind, f"layer_{l}.safetensors"))
                L = {"W_enc": t(w["W_enc"]), "b_enc": t(w["b_enc"]), "threshold": t(w["activation_function.threshold"])}
            else:
                w = st_io.load(os.path.join(folder, kind, f"W_enc_{l}.safetensors"))
                L = {"W_enc": t(w[f"W_enc_{l}"]), "b_enc": t(w[f"b_enc_{l}"]), "threshold": t(w[f"threshold_{l}"])}
            encs.append(lambda x, L=L: D.encode({"layers": [L]}, 0, x))
        write_labels(b, model, prompts, variables, encs, os.path.join(folder, kind, "features"))


@torch.no_grad()
def write_labels(b, model, prompts, variables, encs, out):
    """Each feature's label: the ground-truth feature variable of its layer with the best F1 (feature active
    at the variable's role position vs the variable active), over the task's prompts, with its precision
    and recall (the extension shows a label under its minimum F1 as a best guess)."""
    os.makedirs(out, exist_ok=True)
    caches = [(p, run(model, encode(b, p["prompt"]))[1]) for p in prompts]
    for l in range(b.L):
        vs = {k: v for k, v in variables.items() if v["kind"] == "feature" and v["layer"] == l}
        acts = {}
        for role in {v["role"] for v in vs.values()}:
            rows = [c[f"blocks.{l}.ln2.hook_normalized"][p["positions"][role]] for p, c in caches]
            acts[role] = encs[l](torch.stack(rows)) > 0  # [prompts, F]
        F = encs[l](caches[0][1][f"blocks.{l}.ln2.hook_normalized"][:1]).shape[1]
        feats = []
        for f in range(F):
            best, score, prec, rec = None, 0.0, 0.0, 0.0
            for vid, v in vs.items():
                on = acts[v["role"]][:, f]
                truth = torch.tensor([vid in p["active"] for p in prompts])
                tp = int((on & truth).sum())
                if tp == 0:
                    continue
                f1 = 2 * tp / (int(on.sum()) + int(truth.sum()))
                if f1 > score:
                    best, score, prec, rec = vid, f1, tp / int(on.sum()), tp / int(truth.sum())
            entry = {"layer": l, "index": f, "label_f1": round(score, 3), "label_score": round(score, 3),
                     "label_precision": round(prec, 3), "label_recall": round(rec, 3), "latent": best,
                     "label_scored_against": f"the {len(prompts)} prompts of circuit.json, at the variable's position",
                     "explanations": [{"description": variables[best]["description"].split(" (")[0] if best else ""}]}
            feats.append(entry)
        with open(os.path.join(out, f"layer_{l}.json"), "w") as fh:
            json.dump(feats, fh, separators=(",", ":"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", help="comma-separated circuit names (default: all)")
    ap.add_argument("--dicts", action="store_true", help="also train transcoders and a CLT on each model")
    ap.add_argument("--quick", action="store_true", help="tiny dictionary training (smoke tests)")
    ap.add_argument("--relabel", action="store_true", help="only rewrite the feature labels of the saved dictionaries")
    ap.add_argument("--fold", action="store_true", help="only fold the constant directions of the saved encoders into their biases")
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(circuits.CIRCUITS)
    torch.set_num_threads(1)
    bad = False
    for name in names:
        folder = os.path.join(args.out, name)
        b, model, prompts, variables, edges_doc = build(name, folder)
        failures, margins = check(b, model, prompts, variables, off_max=0.3 if b.superpose else 0.1)
        for f in failures[:10]:
            log(f"{name}: FAIL {f}")
        bad |= bool(failures)
        circuit = {
            "model": name,
            "description": DESCRIPTIONS[name],
            "compiled_by": "tools/compile/compile.py",
            "d_model": b.d, "n_layers": b.L, "superposed": b.superpose,
            "behaviour": {"prompts": len(prompts), "correct": len(prompts) - sum(1 for f in failures if "→" in f),
                          "min_logit_margin": round(min(margins), 3)},
            "edges_summary": [{"source": s, "target": t, "via": v} for s, t, v in edges_doc],
            "variables": variables,
            "prompts": prompts,
        }
        with open(os.path.join(folder, "circuit.json"), "w") as f:
            json.dump(circuit, f, indent=1)
        log(f"{name}: {len(prompts)} prompts, {len(failures)} failures, min margin {min(margins):.2f} nats, "
            f"d_model {b.d}, {len(b.dirs)} directions")
        if args.fold:
            fold_constants(b, model, prompts, folder)
        elif args.relabel:
            relabel(b, model, prompts, variables, folder)
        elif args.dicts and not failures:
            train_dicts(name, b, model, prompts, variables, folder, quick=args.quick)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

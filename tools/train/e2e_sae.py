"""An end-to-end SAE (Braun et al. 2024, "Identifying functionally important features with end-to-end
sparse dictionary learning") for the embedded model's residual stream after block SAE_LAYER.

Where a local SAE minimises reconstruction error, the e2e SAE minimises the KL divergence between the
model's next-token distribution and the distribution with the SAE's reconstruction spliced in (BOS kept
exact, as for every dictionary here), plus the L0 penalty of the other dictionaries (JumpReLU, the same
controller aiming at the same L0). So it keeps what the model downstream uses, not what reconstructs
best: the decomposition report (`circuit-inspector decompositions`) puts it next to the local SAE,
transcoders and CLT.

Starts from the shipped local SAE (documented difference from the paper, which starts from random
weights: on this model it reaches a low KL in a few hundred steps instead of thousands). Writes a
SAELens folder <model>/e2e-sae-resid-post-<layer>/ (cfg.json, sae_weights.safetensors) with
features/layer_<layer>.json labels from the same labeller as the other dictionaries.

  /usr/bin/python3 tools/train/e2e_sae.py --model models/toy-llama --config tools/train/configs/toy-via-state.json [--steps 600] [--seed 1234]

Training is resumable in runs of a few minutes each (the machine is shared): `--init FOLDER` continues from
an e2e SAE written before (its weights, and the L0 coefficient and step count from its TRAINING.json),
with the same target L0 (the local SAE's), writing to `--out` (default: the model's e2e-sae folder).
Each run draws fresh batches (`--seed` + the steps done so far), so chained runs never repeat text.

  nice -n 10 /usr/bin/python3 tools/train/e2e_sae.py --config tools/train/configs/toy-via-state.json --init models/toy-llama/e2e-sae-resid-post-1 --steps 150
"""
import argparse
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import common  # noqa: E402
import jumprelu  # noqa: E402
import labels  # noqa: E402
import language  # noqa: E402
import st_io  # noqa: E402
from dictionaries import RESID_HOOK, collect, save_sae  # noqa: E402

EPS = 0.05


def load_local_sae(folder):
    t = {k: torch.from_numpy(v).float() for k, v in st_io.load(os.path.join(folder, "sae_weights.safetensors")).items()}
    with open(os.path.join(folder, "cfg.json")) as f:
        cfg = json.load(f)
    return t, cfg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/toy-llama")
    ap.add_argument("--local", help="the local SAE to start from (default: the model's sae-resid-post-* folder)")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--config", help="the model's training config, for its language options (default: the default language)")
    ap.add_argument("--init", help="continue from this e2e SAE folder (weights, L0 coefficient and steps from its TRAINING.json)")
    ap.add_argument("--out", help="where to write the SAE (default: <model>/e2e-sae-resid-post-<layer>)")
    ap.add_argument("--coef", type=float, help="initial L0 coefficient (default: the --init run's last, else 1e-3)")
    ap.add_argument("--minutes", type=float, default=9.0, help="stop early (and save) after this many minutes of training")
    ap.add_argument("--labels", type=int, default=1, help="0: skip writing feature labels (trial runs)")
    a = ap.parse_args()
    prior = {}
    if a.init:
        with open(os.path.join(a.init, "TRAINING.json")) as f:
            prior = json.load(f)
    done = int(prior.get("steps", 0))
    torch.manual_seed(a.seed + done)
    torch.set_num_threads(1)

    model, vocab = common.load_model(a.model)
    for p in model.parameters():
        p.requires_grad_(False)
    local = a.local or next(os.path.join(a.model, d) for d in sorted(os.listdir(a.model)) if d.startswith("sae-resid-post-"))
    t, cfg = load_local_sae(local)
    layer = int(cfg["hook_layer"])
    if a.init:
        t, icfg = load_local_sae(a.init)
        if int(icfg["hook_layer"]) != layer:
            sys.exit(f"{a.init} is at layer {icfg['hook_layer']}, the local SAE at {layer}")
    W_enc = torch.nn.Parameter(t["W_enc"].T.contiguous())  # [F, d]
    b_enc = torch.nn.Parameter(t["b_enc"].clone())
    log_t = torch.nn.Parameter(t["threshold"].clamp_min(1e-4).log())
    W_dec = torch.nn.Parameter(t["W_dec"].clone())  # [F, d]
    b_dec = torch.nn.Parameter(t["b_dec"].clone())
    params = [W_enc, b_enc, log_t, W_dec, b_dec]
    opt = torch.optim.Adam(params, lr=a.lr)

    language_options = common.load_config(a.config).get("language") if a.config else None
    w = language.World(a.seed, language_options)
    rng = random.Random(a.seed + 7 + done)
    ctx = model.cfg["max_position_embeddings"]

    # The local SAE's L0 on fresh text is the target: like for like in the report.
    if a.init:
        target_l0 = float(prior["target_l0"])
    else:
        lt, lb, lth = t["W_enc"].T, t["b_enc"], t["threshold"]
        with torch.no_grad():
            ids = common.make_batch(w, vocab, rng, a.batch, ctx)
            cache = {}
            model(ids, cache=cache)
            x = cache[RESID_HOOK.format(layer)][:, 1:]
            target_l0 = float((x @ lt.T + lb > lth.clamp_min(1e-4)).sum(-1).float().mean())
    ctrl = jumprelu.L0Controller(target_l0, init=a.coef or float(prior.get("l0_coef", 1e-3)), rate=0.01)
    print(f"start from {a.init or local} (after {done} steps); layer {layer}; target L0 {target_l0:.1f}; L0 coefficient {ctrl.coef:.2e}", flush=True)

    def splice(collect_l0):
        def f(i, resid):
            if i != layer:
                return None
            theta = log_t.exp()
            pre = resid @ W_enc.T + b_enc
            acts = jumprelu.jumprelu(pre, theta, EPS)
            collect_l0.append(jumprelu.step(pre, theta, EPS)[:, 1:].sum(-1).mean())
            recon = acts @ W_dec + b_dec
            return torch.cat([resid[:, :1], recon[:, 1:]], dim=1)  # BOS exact
        return f

    t0 = time.time()
    step = -1
    for step in range(a.steps):
        if time.time() - t0 > 60 * a.minutes:
            print(f"stopped after {step} steps: the {a.minutes}-minute budget is spent", flush=True)
            step -= 1
            break
        ids = common.make_batch(w, vocab, rng, a.batch, ctx)
        with torch.no_grad():
            clean = F.log_softmax(model(ids), -1)
        l0s = []
        spliced = F.log_softmax(model(ids, resid_replace=splice(l0s)), -1)
        kl = (clean.exp() * (clean - spliced)).sum(-1)[:, 1:].mean()
        l0 = l0s[0]
        for g in opt.param_groups:
            # Decays to zero over the last quarter of the run, by steps or by the time budget, whichever ends first.
            frac = max(step / a.steps, (time.time() - t0) / (60 * a.minutes))
            g["lr"] = a.lr * max(0.0, min(1.0, 4 * (1 - frac)))
        loss = kl + ctrl.active_coef() * l0
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ctrl.update(l0.item())
        if step % 50 == 0 or step == a.steps - 1:
            print(f"step {step} kl {kl.item():.4f} l0 {l0.item():.1f} coef {ctrl.coef:.2e} {time.time() - t0:.0f}s", flush=True)

    folder = a.out or os.path.join(a.model, f"e2e-sae-resid-post-{layer}")
    name = os.path.basename(os.path.normpath(a.model))
    with torch.no_grad():
        d = {"layers": [{"W_enc": W_enc.detach().clone(), "W_dec": W_dec.detach()[:, None, :].clone(),
                         "b_enc": b_enc.detach().clone(), "threshold": log_t.exp().detach().clone()}],
             "b_dec": b_dec.detach()[None, :].clone()}
        save_sae(d, folder, name, layer)
    if a.labels:
        with torch.no_grad():
            # Labels from the same labeller and latents as the other dictionaries.
            label_acts, label_ids, label_lats = collect(model, w, vocab, 300, a.seed + 202, with_latents=True)
            x = label_acts[RESID_HOOK.format(layer)]
            acts = jumprelu.jumprelu(x @ W_enc.T + b_enc, log_t.exp(), EPS)
            unembed = (model.unembed_weight() * model.model.norm.weight).detach()
            inv_vocab = {i: tok for tok, i in vocab.items()}
            lab = labels.Labeller(label_ids, label_lats, inv_vocab, n_examples=5)
            labels.write_layer(os.path.join(folder, "features"), layer, acts, W_dec.detach() @ unembed.T, lab)
    # A record written before runs were listed holds one run's fields at the top level.
    runs = prior.get("runs") or ([{"steps": done, "batch_sequences": prior["batch_sequences"], "lr": prior["lr"], "seconds": prior["seconds"]}] if done else [])
    runs.append({"steps": step + 1, "batch_sequences": a.batch, "lr": a.lr, "seconds": round(time.time() - t0, 1)})
    with open(os.path.join(folder, "TRAINING.json"), "w") as f:
        json.dump({"method": "end-to-end SAE: KL(clean || spliced) + L0 penalty (JumpReLU), started from " + os.path.basename(os.path.normpath(local)),
                   "steps": done + step + 1, "runs": runs, "seed": a.seed, "target_l0": target_l0,
                   "l0_coef": ctrl.coef, "final_kl": kl.item(), "final_l0": l0.item(),
                   "seconds": round(sum(r["seconds"] for r in runs), 1)}, f, indent=2)
    print(f"wrote {folder}", flush=True)


if __name__ == "__main__":
    main()

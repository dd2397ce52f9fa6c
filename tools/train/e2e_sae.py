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

  /usr/bin/python3 tools/train/e2e_sae.py --model models/toy-llama [--steps 600] [--seed 1234]
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
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)

    model, vocab = common.load_model(a.model)
    for p in model.parameters():
        p.requires_grad_(False)
    local = a.local or next(os.path.join(a.model, d) for d in sorted(os.listdir(a.model)) if d.startswith("sae-resid-post-"))
    t, cfg = load_local_sae(local)
    layer = int(cfg["hook_layer"])
    W_enc = torch.nn.Parameter(t["W_enc"].T.contiguous())  # [F, d]
    b_enc = torch.nn.Parameter(t["b_enc"].clone())
    log_t = torch.nn.Parameter(t["threshold"].clamp_min(1e-4).log())
    W_dec = torch.nn.Parameter(t["W_dec"].clone())  # [F, d]
    b_dec = torch.nn.Parameter(t["b_dec"].clone())
    params = [W_enc, b_enc, log_t, W_dec, b_dec]
    opt = torch.optim.Adam(params, lr=a.lr)

    w = language.World(a.seed)
    rng = random.Random(a.seed + 7)
    ctx = model.cfg["max_position_embeddings"]

    # The local SAE's L0 on fresh text is the target: like for like in the report.
    with torch.no_grad():
        ids = common.make_batch(w, vocab, rng, a.batch, ctx)
        cache = {}
        model(ids, cache=cache)
        x = cache[RESID_HOOK.format(layer)][:, 1:]
        pre = x @ W_enc.T + b_enc
        target_l0 = float((pre > log_t.exp()).sum(-1).float().mean())
    ctrl = jumprelu.L0Controller(target_l0, init=1e-3, rate=0.01)
    print(f"start from {local}; layer {layer}; target L0 {target_l0:.1f}", flush=True)

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
    for step in range(a.steps):
        ids = common.make_batch(w, vocab, rng, a.batch, ctx)
        with torch.no_grad():
            clean = F.log_softmax(model(ids), -1)
        l0s = []
        spliced = F.log_softmax(model(ids, resid_replace=splice(l0s)), -1)
        kl = (clean.exp() * (clean - spliced)).sum(-1)[:, 1:].mean()
        l0 = l0s[0]
        for g in opt.param_groups:
            g["lr"] = a.lr * min(1.0, 4 * (a.steps - step) / a.steps)
        loss = kl + ctrl.active_coef() * l0
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ctrl.update(l0.item())
        if step % 50 == 0 or step == a.steps - 1:
            print(f"step {step} kl {kl.item():.4f} l0 {l0.item():.1f} coef {ctrl.coef:.2e} {time.time() - t0:.0f}s", flush=True)

    folder = os.path.join(a.model, f"e2e-sae-resid-post-{layer}")
    name = os.path.basename(os.path.normpath(a.model))
    with torch.no_grad():
        d = {"layers": [{"W_enc": W_enc.detach().clone(), "W_dec": W_dec.detach()[:, None, :].clone(),
                         "b_enc": b_enc.detach().clone(), "threshold": log_t.exp().detach().clone()}],
             "b_dec": b_dec.detach()[None, :].clone()}
        save_sae(d, folder, name, layer)
        # Labels from the same labeller and latents as the other dictionaries.
        label_acts, label_ids, label_lats = collect(model, w, vocab, 300, a.seed + 202, with_latents=True)
        x = label_acts[RESID_HOOK.format(layer)]
        acts = jumprelu.jumprelu(x @ W_enc.T + b_enc, log_t.exp(), EPS)
        unembed = (model.unembed_weight() * model.model.norm.weight).detach()
        inv_vocab = {i: tok for tok, i in vocab.items()}
        lab = labels.Labeller(label_ids, label_lats, inv_vocab, n_examples=5)
        labels.write_layer(os.path.join(folder, "features"), layer, acts, W_dec.detach() @ unembed.T, lab)
    with open(os.path.join(folder, "TRAINING.json"), "w") as f:
        json.dump({"method": "end-to-end SAE: KL(clean || spliced) + L0 penalty (JumpReLU), started from " + os.path.basename(local),
                   "steps": a.steps, "batch_sequences": a.batch, "lr": a.lr, "seed": a.seed, "target_l0": target_l0,
                   "final_kl": kl.item(), "final_l0": l0.item(), "seconds": round(time.time() - t0, 1)}, f, indent=2)
    print(f"wrote {folder}", flush=True)


if __name__ == "__main__":
    main()

"""Stage 2: per-layer transcoders, a cross-layer transcoder and a residual-stream SAE (all JumpReLU),
trained on the saved toy model's activations; then metrics, labels and the report.

All three share one trainer: a set of encoders (one per input layer) whose features write to one or
more output layers. A per-layer transcoder is one encoder writing to its own layer; the CLT's encoder i
writes to layers i..L-1; the SAE is one encoder reconstructing its own input.
"""

import json
import os
import random
import time

import torch
import torch.nn as nn
import yaml

import common
import jumprelu
import labels
import language
import st_io

IN_HOOK = "blocks.{}.ln2.hook_normalized"
OUT_HOOK = "blocks.{}.hook_mlp_out"
RESID_HOOK = "blocks.{}.hook_resid_post"


@torch.no_grad()
def collect(model, w, vocab, n_seqs, seed, batch=16, with_latents=False):
    """Hook activations on fresh text, BOS positions dropped, flattened to [tokens, d]."""
    rng = random.Random(seed)
    ctx = model.cfg["max_position_embeddings"]
    acts, all_ids, all_lats = {}, [], []
    for start in range(0, n_seqs, batch):
        b = min(batch, n_seqs - start)
        ids, lats = common.make_batch(w, vocab, rng, b, ctx, with_latents=True)
        cache = {}
        model(ids, cache=cache)
        for k, v in cache.items():
            acts.setdefault(k, []).append(v[:, 1:].reshape(-1, v.shape[-1]))
        all_ids.append(ids)
        all_lats.extend(lats)
    acts = {k: torch.cat(v) for k, v in acts.items()}
    if with_latents:
        return acts, torch.cat(all_ids), all_lats
    return acts


class JumpDict(nn.Module):
    """Encoders for n_in input layers; encoder i writes to out_span(i) consecutive output layers."""

    def __init__(self, n_in, d_in, d_out, n_feat, spans, init_threshold, eps):
        super().__init__()
        self.spans = spans
        self.eps = eps
        self.W_enc = nn.ParameterList()
        self.b_enc = nn.ParameterList()
        self.log_t = nn.ParameterList()
        self.W_dec = nn.ParameterList()
        for i in range(n_in):
            we = torch.randn(n_feat, d_in)
            we = we / we.norm(dim=1, keepdim=True)
            self.W_enc.append(nn.Parameter(we))
            self.b_enc.append(nn.Parameter(torch.zeros(n_feat)))
            self.log_t.append(nn.Parameter(torch.full((n_feat,), float(init_threshold)).log()))
            wd = torch.randn(n_feat, spans[i], d_out)
            self.W_dec.append(nn.Parameter(0.1 * wd / wd.norm(dim=-1, keepdim=True)))
        n_out = max(i + s for i, s in enumerate(spans))
        self.b_dec = nn.Parameter(torch.zeros(n_out, d_out))

    def encode(self, i, x):
        pre = x @ self.W_enc[i].T + self.b_enc[i]
        theta = self.log_t[i].exp()
        return pre, jumprelu.jumprelu(pre, theta, self.eps), jumprelu.step(pre, theta, self.eps)

    def decode(self, acts_list):
        outs = [self.b_dec[j].expand(acts_list[0].shape[0], -1).clone() for j in range(self.b_dec.shape[0])]
        for i, a in enumerate(acts_list):
            if a is None:
                continue
            for k in range(self.spans[i]):
                outs[i + k] = outs[i + k] + a @ self.W_dec[i][:, k, :]
        return outs


def train_dict(xs, ys, spans, cfg, seed, log):
    """xs: inputs per encoder layer [N, d]; ys: targets per output layer [N, d]. Inputs and targets are
    scaled to unit rms per dimension while training; the scales are folded into the saved weights."""
    torch.manual_seed(seed)
    n = xs[0].shape[0]
    s_in = [x.pow(2).mean().sqrt().item() for x in xs]
    s_out = [y.pow(2).mean().sqrt().item() for y in ys]
    # A target that is identically zero (a layer whose MLP does nothing, as in tools/compile's models) is
    # left out of the loss, and every decoder into it stays exactly zero.
    live = [s > 0 for s in s_out]
    s_out = [s if s > 0 else 1.0 for s in s_out]
    xs = [x / s for x, s in zip(xs, s_in)]
    ys = [y / s for y, s in zip(ys, s_out)]
    var = [(y - y.mean(0)).pow(2).sum(1).mean().item() if ok else 1.0 for y, ok in zip(ys, live)]
    d_in, d_out = xs[0].shape[1], ys[0].shape[1]
    F = cfg["d_features"]
    dic = JumpDict(len(xs), d_in, d_out, F, spans, cfg["init_threshold"], cfg["eps"])
    with torch.no_grad():
        for j, y in enumerate(ys):
            dic.b_dec[j].copy_(y.mean(0))
        for i, span in enumerate(spans):
            for k in range(span):
                if not live[i + k]:
                    dic.W_dec[i][:, k, :] = 0.0
    opt = torch.optim.Adam(dic.parameters(), lr=cfg["lr"], betas=(0.9, 0.999))
    ctrls = [jumprelu.L0Controller(cfg["target_l0"], init=cfg["l0_coef_init"], rate=cfg.get("l0_rate", 0.003))
             for _ in xs]
    steps, bs = cfg["steps"], cfg["batch"]
    last_fired = [torch.zeros(F, dtype=torch.long) for _ in xs]
    g = torch.Generator().manual_seed(seed)
    t0 = time.time()
    for step in range(steps):
        idx = torch.randint(0, n, (bs,), generator=g)
        acts, l0s = [], []
        for i, x in enumerate(xs):
            _, a, st = dic.encode(i, x[idx])
            acts.append(a)
            l0s.append(st.sum(1).mean())
            fired = (a > 0).any(0)
            last_fired[i][fired] = step
        outs = dic.decode(acts)
        recon = sum((o - y[idx]).pow(2).sum(1).mean() / v for o, y, v, ok in zip(outs, ys, var, live) if ok)
        lr_scale = min(1.0, 4 * (steps - step) / steps)  # linear decay over the last quarter
        for gr in opt.param_groups:
            gr["lr"] = cfg["lr"] * lr_scale
        loss = recon + sum(c.active_coef() * l for c, l in zip(ctrls, l0s))
        if cfg.get("l1_coef"):
            # Optional L1 on decoder-norm-weighted activations: unlike the L0 term, whose gradient reaches a
            # threshold only from pre-activations within eps of it, it presses on every active feature.
            loss = loss + cfg["l1_coef"] * sum((a * dic.W_dec[i].norm(dim=-1).sum(1)).sum(1).mean() for i, a in enumerate(acts))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for c, l in zip(ctrls, l0s):
            c.update(l.item())
        every = cfg["resample_every"]
        if every and step > 0 and step % every == 0 and step <= cfg["resample_until"] * steps:
            _resample(dic, opt, xs, ys, idx, outs, last_fired, step - every, g)
        if step % cfg["log_every"] == 0 or step == steps - 1:
            log(f"  dict step {step} recon {recon.item() / len(ys):.4f} l0 "
                f"{[round(l.item(), 1) for l in l0s]} coef {ctrls[0].coef:.2e} {time.time() - t0:.0f}s")
    return _export(dic, s_in, s_out)


@torch.no_grad()
def _resample(dic, opt, xs, ys, idx, outs, last_fired, since, g):
    """Re-aim features that have not fired since `since` at the batch tokens reconstructed worst."""
    err = sum((o - y[idx]).pow(2).sum(1) for o, y in zip(outs, ys))
    for i in range(len(xs)):
        dead = (last_fired[i] <= since).nonzero().flatten()
        if len(dead) == 0:
            continue
        probs = err / err.sum()
        pick = torch.multinomial(probs, len(dead), replacement=True, generator=g)
        x = xs[i][idx[pick]]
        xn = x / x.norm(dim=1, keepdim=True)
        dic.W_enc[i][dead] = xn
        dic.b_enc[i][dead] = 0.0
        dic.log_t[i][dead] = (0.6 * x.norm(dim=1)).log()
        for k in range(dic.spans[i]):
            r = ys[i + k][idx[pick]] - outs[i + k][pick]
            dic.W_dec[i][dead, k, :] = 0.2 * r / (r.norm(dim=1, keepdim=True) + 1e-6) * (r.norm(dim=1, keepdim=True).mean())
        for p, rows in ((dic.W_enc[i], dead), (dic.b_enc[i], dead), (dic.log_t[i], dead), (dic.W_dec[i], dead)):
            st = opt.state.get(p)
            if st:
                st["exp_avg"][rows] = 0
                st["exp_avg_sq"][rows] = 0
        last_fired[i][dead] = since + 1 + len(dead) * 0  # give them a fresh window


def _export(dic, s_in, s_out):
    """Plain tensors in model units: pre = x @ W_enc.T + b_enc; recon_j = sum acts @ W_dec + b_dec_j."""
    layers = []
    for i in range(len(dic.W_enc)):
        layers.append({
            "W_enc": (dic.W_enc[i] / s_in[i]).detach().clone(),
            "b_enc": dic.b_enc[i].detach().clone(),
            "threshold": dic.log_t[i].exp().detach().clone(),
            "W_dec": torch.stack([dic.W_dec[i][:, k, :] * s_out[i + k] for k in range(dic.spans[i])], 1).detach(),
        })
    b_dec = torch.stack([dic.b_dec[j] * s_out[j] for j in range(dic.b_dec.shape[0])]).detach()
    return {"layers": layers, "b_dec": b_dec}


def encode(d, i, x):
    L = d["layers"][i]
    pre = x @ L["W_enc"].T + L["b_enc"]
    return pre * (pre > L["threshold"])


def decode_to(d, acts_by_layer, j, first_layer=0):
    """Reconstruction of output layer j from the encoder layers' activations (CLT: all i <= j)."""
    out = d["b_dec"][j].clone()
    for i, a in acts_by_layer.items():
        span = d["layers"][i - first_layer]["W_dec"].shape[1]
        if i <= j < i + span:
            out = out + a @ d["layers"][i - first_layer]["W_dec"][:, j - i, :]
    return out


# ---------------------------------------------------------------------------------------------------
# Files


def save_transcoders(tcs, folder, model_name):
    os.makedirs(folder, exist_ok=True)
    entries = []
    for l, d in enumerate(tcs):
        L = d["layers"][0]
        st_io.save({"W_enc": L["W_enc"], "W_dec": L["W_dec"][:, 0, :], "b_enc": L["b_enc"], "b_dec": d["b_dec"][0],
                    "activation_function.threshold": L["threshold"]}, os.path.join(folder, f"layer_{l}.safetensors"))
        entries.append({"id": f"layer_{l}", "layer": l, "filepath": f"layer_{l}.safetensors"})
    conf = {"model_name": model_name, "model_kind": "transcoder_set", "feature_input_hook": "ln2.hook_normalized",
            "feature_output_hook": "hook_mlp_out", "scan": f"{model_name}-transcoders", "activation": "jumprelu",
            "transcoders": entries}
    with open(os.path.join(folder, "config.yaml"), "w") as f:
        yaml.safe_dump(conf, f, sort_keys=False)


def save_clt(d, folder, model_name):
    os.makedirs(folder, exist_ok=True)
    n = len(d["layers"])
    for i, L in enumerate(d["layers"]):
        st_io.save({f"W_enc_{i}": L["W_enc"], f"b_enc_{i}": L["b_enc"], f"b_dec_{i}": d["b_dec"][i],
                    f"threshold_{i}": L["threshold"]}, os.path.join(folder, f"W_enc_{i}.safetensors"))
        st_io.save({f"W_dec_{i}": L["W_dec"]}, os.path.join(folder, f"W_dec_{i}.safetensors"))
    conf = {"model_name": model_name, "model_kind": "cross_layer_transcoder", "feature_input_hook": "ln2.hook_normalized",
            "feature_output_hook": "hook_mlp_out", "scan": f"{model_name}-clt", "activation": "jumprelu",
            "n_layers": n, "d_transcoder": int(d["layers"][0]["W_enc"].shape[0]),
            "d_model": int(d["layers"][0]["W_enc"].shape[1])}
    with open(os.path.join(folder, "config.yaml"), "w") as f:
        yaml.safe_dump(conf, f, sort_keys=False)


def save_sae(d, folder, model_name, layer):
    os.makedirs(folder, exist_ok=True)
    L = d["layers"][0]
    st_io.save({"W_enc": L["W_enc"].T.contiguous(), "W_dec": L["W_dec"][:, 0, :], "b_enc": L["b_enc"],
                "b_dec": d["b_dec"][0], "threshold": L["threshold"]}, os.path.join(folder, "sae_weights.safetensors"))
    cfg = {"architecture": "jumprelu", "d_in": int(L["W_enc"].shape[1]), "d_sae": int(L["W_enc"].shape[0]),
           "dtype": "float32", "device": "cpu", "model_name": model_name, "hook_name": RESID_HOOK.format(layer),
           "hook_layer": layer, "hook_head_index": None, "activation_fn_str": "relu", "apply_b_dec_to_input": False,
           "finetuning_scaling_factor": False, "normalize_activations": "none", "context_size": 128,
           "prepend_bos": True, "sae_lens_training_version": None}
    with open(os.path.join(folder, "cfg.json"), "w") as f:
        json.dump(cfg, f, indent=2)


# ---------------------------------------------------------------------------------------------------
# Metrics


@torch.no_grad()
def gt_activations(model, vocab, gt_dir):
    """Hook activations on every ground-truth prompt (run one by one, unpadded), BOS dropped."""
    acts = {}
    for task in sorted(os.listdir(gt_dir)):
        for it in common.read_jsonl(os.path.join(gt_dir, task)):
            ids = torch.tensor([common.tokenizer_io.encode(vocab, it["prompt"])])
            cache = {}
            model(ids, cache=cache)
            for k, v in cache.items():
                acts.setdefault(k, []).append(v[0, 1:])
    return {k: torch.cat(v) for k, v in acts.items()}


def fvu(y, yhat):
    return ((y - yhat).pow(2).sum() / (y - y.mean(0)).pow(2).sum()).item()


@torch.no_grad()
def next_token_loss(model, ids, **kw):
    logits = model(ids[:, :-1], **kw)
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1)).item()


def _keep_bos(orig, recon):
    """Position 0 (BOS) keeps the model's own activation: the dictionaries are trained without BOS (its
    activations are outliers that the model uses as an attention sink), and the attribution graph
    likewise keeps BOS out of the replacement (no features there)."""
    recon = recon.clone()
    recon[:, 0] = orig[:, 0]
    return recon


def transcoder_splice(tcs, layers):
    def f(i, normed, out, cache):
        if i not in layers:
            return None
        b, t, dm = normed.shape
        a = encode(tcs[i], 0, normed.reshape(-1, dm))
        return _keep_bos(out, decode_to(tcs[i], {0: a}, 0).reshape(b, t, dm))
    return f


def clt_splice(d):
    # Layer i's features read the spliced model's own MLP input at layer i (the replacement model);
    # layers run in order, so store[i'] for i' < i is always from the current forward pass.
    store = {}

    def f(i, normed, out, cache):
        b, t, dm = normed.shape
        store[i] = encode(d, i, normed.reshape(-1, dm))
        return _keep_bos(out, decode_to(d, store, i).reshape(b, t, dm))
    return f


def sae_splice(d, layer):
    def f(i, x):
        if i != layer:
            return None
        b, t, dm = x.shape
        a = encode(d, 0, x.reshape(-1, dm))
        return _keep_bos(x, decode_to(d, {0: a}, 0).reshape(b, t, dm))
    return f


@torch.no_grad()
def evaluate_dicts(model, tcs, clt, sae, sae_layer, gt_acts, eval_ids, label_acts):
    n_layers = len(tcs)
    rep = {}
    clean = next_token_loss(model, eval_ids)

    def dead(d, i, x):
        return (encode(d, i, x) > 0).any(0).logical_not().float().mean().item()

    def l0(a):
        return (a > 0).float().sum(1).mean().item()

    t = {"d_transcoder": int(tcs[0]["layers"][0]["W_enc"].shape[0]), "fvu": [], "l0": [], "dead_fraction": [],
         "loss_spliced_per_layer": []}
    for l in range(n_layers):
        x, y = gt_acts[IN_HOOK.format(l)], gt_acts[OUT_HOOK.format(l)]
        a = encode(tcs[l], 0, x)
        t["fvu"].append(fvu(y, decode_to(tcs[l], {0: a}, 0)))
        t["l0"].append(l0(a))
        t["dead_fraction"].append(dead(tcs[l], 0, label_acts[IN_HOOK.format(l)]))
        t["loss_spliced_per_layer"].append(next_token_loss(model, eval_ids, mlp_replace=transcoder_splice(tcs, {l})))
    t["loss_clean"] = clean
    t["loss_spliced"] = next_token_loss(model, eval_ids, mlp_replace=transcoder_splice(tcs, set(range(n_layers))))
    rep["transcoders"] = t

    c = {"d_transcoder": int(clt["layers"][0]["W_enc"].shape[0]), "fvu": [], "l0": [], "dead_fraction": []}
    acts = {i: encode(clt, i, gt_acts[IN_HOOK.format(i)]) for i in range(n_layers)}
    for l in range(n_layers):
        c["fvu"].append(fvu(gt_acts[OUT_HOOK.format(l)], decode_to(clt, {i: acts[i] for i in range(l + 1)}, l)))
        c["l0"].append(l0(acts[l]))
        c["dead_fraction"].append(dead(clt, l, label_acts[IN_HOOK.format(l)]))
    c["loss_clean"] = clean
    c["loss_spliced"] = next_token_loss(model, eval_ids, mlp_replace=clt_splice(clt))
    rep["clt"] = c

    x = gt_acts[RESID_HOOK.format(sae_layer)]
    a = encode(sae, 0, x)
    rep["sae"] = {"layer": sae_layer, "hook_name": RESID_HOOK.format(sae_layer),
                  "d_sae": int(sae["layers"][0]["W_enc"].shape[0]),
                  "fvu": fvu(x, decode_to(sae, {0: a}, 0)), "l0": l0(a),
                  "dead_fraction": dead(sae, 0, label_acts[RESID_HOOK.format(sae_layer)]),
                  "loss_clean": clean,
                  "loss_spliced": next_token_loss(model, eval_ids, resid_replace=sae_splice(sae, sae_layer))}
    return rep


def _round(o):
    if isinstance(o, float):
        return round(o, 4)
    if isinstance(o, dict):
        return {k: _round(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_round(v) for v in o]
    return o


# ---------------------------------------------------------------------------------------------------


def build_all(cfg, out_dir, log=print):
    dc = cfg["dicts"]
    timer = common.Timer()
    timings = {}
    common.setup_torch(cfg["seed"] + 1, cfg.get("threads", 1))
    folder = os.path.join(out_dir, cfg["name"])
    model, vocab = common.load_model(folder)
    for p in model.parameters():
        p.requires_grad_(False)
    w = language.World(cfg["seed"], cfg.get("language"))
    from train_model import write_ground_truth
    write_ground_truth(w, cfg, out_dir)
    n_layers = model.cfg["num_hidden_layers"]
    sae_layer = dc.get("sae_layer", n_layers // 2 - 1)

    train_acts = collect(model, w, vocab, dc["train_seqs"], cfg["seed"] + 101)
    label_acts, label_ids, label_lats = collect(model, w, vocab, dc["label_seqs"], cfg["seed"] + 202,
                                                with_latents=True)
    eval_ids = common.make_batch(w, vocab, random.Random(cfg["seed"] + 303), dc["eval_seqs"],
                                 model.cfg["max_position_embeddings"])
    timings["collect_s"] = timer.mark("collect")
    log(f"collected {train_acts[IN_HOOK.format(0)].shape[0]} training tokens")

    tcs = []
    for l in range(n_layers):
        log(f"transcoder layer {l}")
        tcs.append(train_dict([train_acts[IN_HOOK.format(l)]], [train_acts[OUT_HOOK.format(l)]], [1],
                              dc["transcoder"], cfg["seed"] + 10 + l, log))
    timings["transcoders_s"] = timer.mark("transcoders")
    log("cross-layer transcoder")
    clt = train_dict([train_acts[IN_HOOK.format(l)] for l in range(n_layers)],
                     [train_acts[OUT_HOOK.format(l)] for l in range(n_layers)],
                     [n_layers - l for l in range(n_layers)], dc["clt"], cfg["seed"] + 20, log)
    timings["clt_s"] = timer.mark("clt")
    log(f"sae at resid_post {sae_layer}")
    x = train_acts[RESID_HOOK.format(sae_layer)]
    sae = train_dict([x], [x], [1], dc["sae"], cfg["seed"] + 30, log)
    timings["sae_s"] = timer.mark("sae")
    del train_acts

    name = cfg["name"]
    save_transcoders(tcs, os.path.join(folder, "transcoders"), name)
    save_clt(clt, os.path.join(folder, "clt"), name)
    sae_folder = os.path.join(folder, f"sae-resid-post-{sae_layer}")
    save_sae(sae, sae_folder, name, sae_layer)

    gt_dir = os.path.join(out_dir, "ground_truth")
    gt_acts = gt_activations(model, vocab, gt_dir)
    rep_dicts = evaluate_dicts(model, tcs, clt, sae, sae_layer, gt_acts, eval_ids, label_acts)
    timings["metrics_s"] = timer.mark("metrics")

    unembed = (model.unembed_weight() * model.model.norm.weight).detach()
    inv_vocab = {i: t for t, i in vocab.items()}
    lab = labels.Labeller(label_ids, label_lats, inv_vocab, n_examples=dc.get("n_examples", 5))
    for l in range(n_layers):
        labels.write_layer(os.path.join(folder, "transcoders", "features"), l,
                           encode(tcs[l], 0, label_acts[IN_HOOK.format(l)]), tcs[l]["layers"][0]["W_dec"][:, 0, :] @ unembed.T,
                           lab)
        labels.write_layer(os.path.join(folder, "clt", "features"), l,
                           encode(clt, l, label_acts[IN_HOOK.format(l)]),
                           clt["layers"][l]["W_dec"].sum(1) @ unembed.T, lab)
    labels.write_layer(os.path.join(sae_folder, "features"), sae_layer,
                       encode(sae, 0, label_acts[RESID_HOOK.format(sae_layer)]),
                       sae["layers"][0]["W_dec"][:, 0, :] @ unembed.T, lab)
    timings["labels_s"] = timer.mark("labels")

    accs = {}
    for fn in sorted(os.listdir(gt_dir)):
        items = common.read_jsonl(os.path.join(gt_dir, fn))
        acc, ok = common.accuracy(model, vocab, items)
        entry = {"n": len(items), "correct": int(sum(ok)), "accuracy": acc}
        for flag, key in ((True, "held_out_composition"), (False, "trained_composition")):
            sub = [o for o, it in zip(ok, items) if it["held_out_composition"] == flag]
            if sub:
                entry[key] = {"n": len(sub), "correct": int(sum(sub)), "accuracy": sum(sub) / len(sub)}
        accs[fn[:-len(".jsonl")]] = entry
    report = {
        "model": name,
        "params": sum(p.numel() for p in model.parameters()),
        "config": cfg,
        "accuracy_definition": "top-1: prompt tokenized with BOS, argmax of the last position's logits equals "
                               "the answer token; accuracy is a fraction (1 point = 0.01)",
        "accuracy": accs,
        "fvu_definition": "on the ground-truth prompts' tokens (each prompt run alone with BOS), all positions "
                          "except BOS, per layer: sum((y - yhat)^2) / sum((y - mean(y))^2), mean over positions",
        "l0_definition": "mean number of active features per token on the same tokens",
        "dead_definition": f"fraction of features never active on {label_ids.numel()} held-out text tokens",
        "loss_definition": f"next-token cross-entropy on {eval_ids.shape[0]} held-out sequences of "
                           f"{eval_ids.shape[1]} tokens; spliced = dictionary output replaces the hook "
                           "at every position but BOS (transcoders: all layers at once, and one layer at a time)",
        "dictionaries": rep_dicts,
    }
    return report, timings


def write_report(report, timings, folder):
    report = dict(report)
    report["timings_s"] = timings
    report = _round(report)
    with open(os.path.join(folder, "REPORT.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(folder, "REPORT.md"), "w") as f:
        f.write(labels.report_markdown(report))

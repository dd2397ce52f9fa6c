#!/usr/bin/env python3
"""Independent PyTorch reference for feature ablations (circuit-tracer's feature_intervention), in
float64, for Llama-family checkpoints with per-layer transcoders or a cross-layer transcoder; and, in
the real model only (attention and norms recomputed), for Gemma-2 (soft-capped logits) and Qwen3
through forward_ref.py's forward.

One forward pass per job: at each layer, the transcoder input is read from the (already intervened)
residual stream, the ablated features' activations are computed there, and (0 - activation) x decoder is
added to the MLP output (a CLT feature: to every layer it writes). That is circuit-tracer's
layer-by-layer recomputation done in a single sweep. Settings:
  --attention frozen|recomputed   patterns from the clean pass, or recomputed
  --norms frozen|recomputed       every RMSNorm scale from the clean pass, or recomputed
Nothing here shares code with the TypeScript engine (weights by Hugging Face name; transcoders read by
attribution_ref.load_transcoders).

Usage:
  intervene_ref.py --model DIR --transcoders DIR --ids 1,5,7 --jobs JOBS.json --out FILE.safetensors
JOBS.json: [[[layer, position, feature], ...], ...]  (each job: the features ablated together)
Output (F32): clean [V] (last-position logits), job_{j} [V] for each job; with a final soft-cap (Gemma-2)
also clean_precap and job_{j}_precap, the logits before the cap.
"""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from forward_ref import Weights, apply_rope, attention, forward_llama_like, linear, load_config, load_weights, rope_inv_freq, silu  # noqa: E402
from attribution_ref import activation, load_transcoders, reads_resid_mid  # noqa: E402
from st_io import write_safetensors  # noqa: E402

DT = torch.float64


def rms(x, w, eps, frozen_scale=None):
    scale = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) if frozen_scale is None else frozen_scale
    return x * scale * w, scale


def forward(cfg, W, tc, ids, ablate=(), freeze=None, record=None):
    """Llama forward. ablate: [(layer, pos, feature)]; freeze: dict of patterns / scales to reuse;
    record: dict filled with this pass's patterns and scales."""
    kind, in_hook, layers = tc
    d = cfg['hidden_size']
    H = cfg['num_attention_heads']
    Hkv = cfg.get('num_key_value_heads') or H
    hd = cfg.get('head_dim') or d // H
    eps = cfg.get('rms_norm_eps', 1e-6)
    L = cfg['num_hidden_layers']
    T = len(ids)
    positions = torch.arange(T)
    fz = freeze or {}
    get = lambda k: fz.get(k)  # noqa: E731
    x = W.get('model.embed_tokens.weight')[ids]
    carry = torch.zeros(L, T, d, dtype=DT)  # CLT decoders written into later layers
    for l in range(L):
        p = f'model.layers.{l}.'
        a_in, s1 = rms(x, W.get(p + 'input_layernorm.weight'), eps, get(f'ln1_{l}'))
        if get(f'pattern_{l}') is not None:
            v = linear(a_in, W.get(p + 'self_attn.v_proj.weight')).reshape(T, Hkv, hd).transpose(0, 1)
            v = v.repeat_interleave(H // Hkv, dim=0)
            pattern = get(f'pattern_{l}')
            z = torch.matmul(pattern, v).transpose(0, 1).reshape(T, -1)
        else:
            q = linear(a_in, W.get(p + 'self_attn.q_proj.weight')).reshape(T, H, hd).transpose(0, 1)
            k = linear(a_in, W.get(p + 'self_attn.k_proj.weight')).reshape(T, Hkv, hd).transpose(0, 1)
            v = linear(a_in, W.get(p + 'self_attn.v_proj.weight')).reshape(T, Hkv, hd).transpose(0, 1)
            inv = rope_inv_freq(cfg, hd)
            pattern, z = attention(apply_rope(q, inv, positions), apply_rope(k, inv, positions), v, hd ** -0.5)
        x = x + linear(z, W.get(p + 'self_attn.o_proj.weight'))
        m_in, s2 = rms(x, W.get(p + 'post_attention_layernorm.weight'), eps, get(f'ln2_{l}'))
        if record is not None:
            record[f'pattern_{l}'], record[f'ln1_{l}'], record[f'ln2_{l}'] = pattern, s1, s2
        mlp = linear(silu(linear(m_in, W.get(p + 'mlp.gate_proj.weight'))) * linear(m_in, W.get(p + 'mlp.up_proj.weight')), W.get(p + 'mlp.down_proj.weight'))
        tc_in = x if reads_resid_mid(in_hook) else m_in
        t = layers[l]
        for (al, ap, af) in ablate:
            if al != l:
                continue
            a = activation(tc_in[ap] @ t['W_enc'][af] + t['b_enc'][af], None if t['threshold'] is None else t['threshold'][af])
            if kind == 'plt':
                mlp[ap] = mlp[ap] - a * t['W_dec'][af]
            else:
                for j in range(l, L):
                    carry[j, ap] = carry[j, ap] - a * t['W_dec'][af, j - l]
        x = x + mlp + carry[l]
    xf, sf = rms(x, W.get('model.norm.weight'), eps, get('lnf'))
    if record is not None:
        record['lnf'] = sf
    lm = W.get('lm_head.weight', required=False)
    if lm is None or cfg.get('tie_word_embeddings', False):
        lm = W.get('model.embed_tokens.weight')
    return (xf @ lm.T)[-1]


def forward_real(cfg, W, tc, ids, ablate=()):
    """Any family forward_ref.py runs (Gemma-2 with its four norms and both soft-caps, Qwen3, Llama),
    in the real model only (nothing frozen): circuit-tracer's layer-by-layer recomputation done as L+1
    passes, each reading layer l's transcoder input from the pass with the earlier layers' ablations
    already written into the MLP outputs. Returns the last position's logits (Gemma-2: soft-capped)."""
    kind, in_hook, layers = tc
    mt = cfg['model_type']
    L = cfg['num_hidden_layers']
    d = cfg['hidden_size']
    T = len(ids)
    delta = torch.zeros(L, T, d, dtype=DT)
    for l in range(L):
        mine = [(p, f) for (al, p, f) in ablate if al == l]
        if not mine:
            continue
        h = forward_llama_like(cfg, W, ids, delta, mt)
        tc_in = h[f'blocks.{l}.hook_resid_mid'] if reads_resid_mid(in_hook) else h[f'blocks.{l}.ln2.hook_normalized']
        t = layers[l]
        for (p, f) in mine:
            a = activation(tc_in[p] @ t['W_enc'][f] + t['b_enc'][f], None if t['threshold'] is None else t['threshold'][f])
            if kind == 'plt':
                delta[l, p] = delta[l, p] - a * t['W_dec'][f]
            else:
                for j in range(l, L):
                    delta[j, p] = delta[j, p] - a * t['W_dec'][f, j - l]
    h = forward_llama_like(cfg, W, ids, delta, mt)
    return h['logits'][-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True)
    ap.add_argument('--transcoders', required=True)
    ap.add_argument('--ids', required=True)
    ap.add_argument('--jobs', required=True)
    ap.add_argument('--attention', choices=['frozen', 'recomputed'], default='frozen')
    ap.add_argument('--norms', choices=['frozen', 'recomputed'], default='recomputed')
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    cfg = load_config(a.model)
    W = Weights({k: v.to(DT) for k, v in load_weights(a.model).items()}, [''])
    if cfg.get('model_type') != 'llama':
        # Other families: the real model only (forward_ref.py's forward, which has their norms and caps).
        if cfg.get('model_type') not in ('gemma2', 'qwen3') or a.attention != 'recomputed' or a.norms != 'recomputed':
            sys.exit('intervene_ref.py: frozen settings for Llama checkpoints only; Gemma-2 and Qwen3 in the real model (both recomputed)')
        n_layers = cfg['num_hidden_layers']
        kind, in_hook, layers = load_transcoders(a.transcoders, n_layers)
        layers = [{k: (v.to(DT) if torch.is_tensor(v) else v) for k, v in t.items()} for t in layers]
        ids = torch.tensor([int(i) for i in a.ids.split(',')])
        with open(a.jobs) as f:
            jobs = json.load(f)
        tc = (kind, in_hook, layers)
        # With a final soft-cap, also the logits before it (the same passes with the cap left out).
        uncapped = dict(cfg, final_logit_softcapping=None) if cfg.get('final_logit_softcapping') is not None else None
        out = {'clean': forward_real(cfg, W, tc, ids)}
        if uncapped:
            out['clean_precap'] = forward_real(uncapped, W, tc, ids)
        for j, job in enumerate(jobs):
            out[f'job_{j}'] = forward_real(cfg, W, tc, ids, ablate=[tuple(x) for x in job])
            if uncapped:
                out[f'job_{j}_precap'] = forward_real(uncapped, W, tc, ids, ablate=[tuple(x) for x in job])
        write_safetensors(a.out, {k: v.to(torch.float32).contiguous() for k, v in out.items()})
        return
    n_layers = cfg['num_hidden_layers']
    kind, in_hook, layers = load_transcoders(a.transcoders, n_layers)
    layers = [{k: (v.to(DT) if torch.is_tensor(v) else v) for k, v in t.items()} for t in layers]
    tc = (kind, in_hook, layers)
    ids = torch.tensor([int(i) for i in a.ids.split(',')])
    with open(a.jobs) as f:
        jobs = json.load(f)
    rec = {}
    out = {'clean': forward(cfg, W, tc, ids, record=rec)}
    freeze = {}
    if a.attention == 'frozen':
        freeze.update({k: v for k, v in rec.items() if k.startswith('pattern_')})
    if a.norms == 'frozen':
        freeze.update({k: v for k, v in rec.items() if not k.startswith('pattern_')})
    for j, job in enumerate(jobs):
        out[f'job_{j}'] = forward(cfg, W, tc, ids, ablate=[tuple(x) for x in job], freeze=freeze)
    write_safetensors(a.out, {k: v.to(torch.float32).contiguous() for k, v in out.items()})


if __name__ == '__main__':
    main()

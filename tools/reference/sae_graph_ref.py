#!/usr/bin/env python3
"""Independent PyTorch reference for SAE-graph edges (sparse feature circuits: attribution patching),
by autograd, in float64.

The model is run by the independent reference forward (forward_ref.py); then the blocks are run again
from autograd leaves with the attention patterns and every normalisation scale DETACHED (constants taken
from that forward) while the MLPs stay real and differentiable, so gradients go through each MLP at the
prompt's activations. One residual-stream SAE (SAELens cfg.json + sae_weights.safetensors) at
blocks.S.hook_resid_post; the residual there is replaced by
    sum_k a_k W_dec[k] + b_dec + error_t            (error = residual − reconstruction)
with the activations a_k and the error vectors as leaves. Targets:
  - salient logits (top logits until 0.95 cumulative probability, at most 10), as the direction
    (unembedding row − vocabulary mean) on the final-normed residual at the last position: edges from
    features (grad × a) and errors (grad · error), computed from the site to the logits;
  - each active feature's pre-activation (residual at the site · W_enc[:, f] + b_enc): edges from the
    token embeddings (grad · embedding), computed from the embeddings (leaves) through blocks 0..S.
Embedding → logit edges are zero (every path crosses the site) and there are no feature → feature edges.
With --zero-bos, features at position 0 are dropped (its error is then the whole residual minus b_dec).
Families: Llama-like (RMSNorm, gated MLP), Gemma-2 ((1+w) norms, post-attention and post-feed-forward
norms with their scales detached, GeGLU), GPT-2 (LayerNorm with the scale detached, dense gelu MLP, learned
positions as a constant); the attention value/output path and unembedding are attribution_ref.py's.

Usage: sae_graph_ref.py --model DIR --sae DIR --ids 1,5,7 --out FILE.safetensors [--zero-bos]
Output (F32): features [n, 3] (layer, position, index), activations [n], logit_ids [k],
  edges [n + k, n + L*T + T] (rows: features then logits; columns: features, errors layer-major, tokens).
"""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from attribution_ref import Family  # noqa: E402
from forward_ref import ACTS, Weights, load_config, load_weights, run  # noqa: E402
from st_io import read_safetensors, write_safetensors  # noqa: E402

DT = torch.float64


def salient_logits(logits, max_n=10, p=0.95):
    probs = torch.softmax(logits, -1)
    top_p, top_i = torch.topk(probs, min(max_n, probs.shape[0]))
    cum = torch.cumsum(top_p, 0)
    cutoff = int(torch.searchsorted(cum, torch.tensor(p, dtype=cum.dtype))) + 1
    return top_i[:cutoff]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True)
    ap.add_argument('--sae', required=True)
    ap.add_argument('--ids', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--zero-bos', action='store_true')
    a = ap.parse_args(argv)
    ids = [int(x) for x in a.ids.split(',')]
    cfg = load_config(a.model)
    mt = cfg.get('model_type')
    if mt not in ('llama', 'qwen2', 'qwen3', 'mistral', 'gemma2', 'gpt2'):
        sys.exit(f'sae_graph_ref.py does not write out {mt} models')
    W = Weights({k: v.to(DT) for k, v in load_weights(a.model).items()}, ['', 'transformer.'] if mt == 'gpt2' else [''])
    fam = Family(cfg, W)
    h = run(a.model, ids)
    h = {k: v.to(DT) if torch.is_tensor(v) else v for k, v in h.items()}
    L, d = fam.L, fam.d
    if fam.gpt2:
        act_name = cfg.get('activation_function', 'gelu_new')
    elif fam.gemma:
        act_name = cfg.get('hidden_activation') or ('gelu_pytorch_tanh' if cfg.get('hidden_act') in (None, 'gelu') else cfg['hidden_act'])
    else:
        act_name = cfg.get('hidden_act', 'silu')
    act = ACTS[act_name]
    T = len(ids)

    with open(os.path.join(a.sae, 'cfg.json')) as f:
        scfg = json.load(f)
    st = read_safetensors(os.path.join(a.sae, 'sae_weights.safetensors'))
    W_enc, b_enc, W_dec, b_dec = (st[k].to(DT) for k in ('W_enc', 'b_enc', 'W_dec', 'b_dec'))
    thr = st.get('threshold')
    S = int(scfg['hook_layer'])
    assert scfg['hook_name'] == f'blocks.{S}.hook_resid_post'

    def mlp(l, m):
        """The real MLP (differentiable) on its normalised input m; Gemma's post-feed-forward norm frozen."""
        if fam.gpt2:
            p = f'h.{l}.mlp.'
            return act(m @ W.get(p + 'c_fc.weight') + W.get(p + 'c_fc.bias')) @ W.get(p + 'c_proj.weight') + W.get(p + 'c_proj.bias')
        p = f'model.layers.{l}.mlp.'

        def lin(x, name):
            y = x @ W.get(p + name + '.weight').T
            return y + W.get(p + name + '.bias') if cfg.get('mlp_bias') else y
        out = lin(act(lin(m, 'gate_proj')) * lin(m, 'up_proj'), 'down_proj')
        if fam.gemma:
            out = fam.norm(f'model.layers.{l}.post_feedforward_layernorm', out, h[f'blocks.{l}.ln2_post.hook_scale'].detach(), 'rms')
        return out

    def block(l, x):
        """Block l with patterns and norm scales detached (constants), the MLP real."""
        n = fam.names(l)
        a_in = fam.norm(n['ln1'], x, h[f'blocks.{l}.ln1.hook_scale'].detach(), n['kind'])
        v = fam.values(l, a_in).repeat_interleave(fam.H // fam.Hkv, dim=0)
        z = (h[f'blocks.{l}.attn.hook_pattern'].detach() @ v).transpose(0, 1).reshape(T, -1)
        attn = fam.out_proj(l, z)
        if fam.gemma:
            attn = fam.norm(n['ln1post'], attn, h[f'blocks.{l}.ln1_post.hook_scale'].detach(), 'rms')
        x = x + attn
        m = fam.norm(n['ln2'], x, h[f'blocks.{l}.ln2.hook_scale'].detach(), n['kind'])
        return x + mlp(l, m)

    # The SAE at the site, from the reference forward's residual.
    resid = h[f'blocks.{S}.hook_resid_post']
    xin = resid - b_dec if scfg.get('apply_b_dec_to_input') else resid
    pre = xin @ W_enc + b_enc
    acts = torch.relu(pre)
    if thr is not None and scfg.get('architecture') == 'jumprelu':
        acts = acts * (pre > thr.to(DT))
    if a.zero_bos:
        acts[0] = 0
    err = resid - (acts @ W_dec + b_dec)
    nz = acts.nonzero().tolist()  # (position, index), position-major: the engine's order
    n = len(nz)
    pos = [p for p, _ in nz]
    idx = [i for _, i in nz]

    logits = h['logits'][T - 1]
    logit_ids = salient_logits(logits)
    lm = fam.unembed()
    dirs = lm[logit_ids] - lm.mean(0, keepdim=True)
    k = len(logit_ids)
    nsrc = n + L * T + T
    edges = torch.zeros(n + k, nsrc, dtype=DT)

    # Logit rows: leaves at the site (activations and errors), forward to the logits.
    a_leaf = torch.tensor([float(acts[p, i]) for p, i in nz], dtype=DT, requires_grad=True)
    e_leaf = err.detach().clone().requires_grad_(True)
    x = e_leaf + b_dec
    if n:
        contrib = a_leaf.unsqueeze(-1) * W_dec[idx]
        x = x.index_add(0, torch.tensor(pos), contrib)
    for l in range(S + 1, L):
        x = block(l, x)
    norm_name, norm_kind = fam.final_norm()
    xf = fam.norm(norm_name, x, h['ln_final.hook_scale'].detach(), norm_kind)
    for j in range(k):
        val = xf[T - 1] @ dirs[j]
        ga, ge = torch.autograd.grad(val, [a_leaf, e_leaf], retain_graph=True)
        edges[n + j, :n] = ga * a_leaf.detach()
        edges[n + j, n + S * T:n + (S + 1) * T] = (ge * e_leaf.detach()).sum(-1)

    # Feature rows: embeddings as leaves, forward to the site.
    tok = h['hook_embed'].detach().clone().requires_grad_(True)
    x = tok + h['hook_pos_embed'] if 'hook_pos_embed' in h else tok
    for l in range(S + 1):
        x = block(l, x)
    assert torch.allclose(x, resid, atol=1e-8 * max(1.0, float(resid.abs().max()))), 'frozen forward reproduces the residual'
    for r in range(n):
        val = x[pos[r]] @ W_enc[:, idx[r]]
        (gt,) = torch.autograd.grad(val, [tok], retain_graph=True)
        edges[r, n + L * T:] = (gt * tok.detach()).sum(-1)

    feats = torch.tensor([[S, p, i] for p, i in nz], dtype=DT).reshape(n, 3)
    write_safetensors(a.out, {
        'features': feats,
        'activations': a_leaf.detach(),
        'logit_ids': logit_ids.to(DT),
        'edges': edges,
    })


if __name__ == '__main__':
    main()

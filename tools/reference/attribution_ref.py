#!/usr/bin/env python3
"""Independent PyTorch reference for attribution-graph edges (the circuit-tracing method), by autograd.

The local replacement model of a prompt is written out directly, in float64, from the checkpoint's
weights: attention patterns and normalisation scales are constants taken from the independent
reference forward (forward_ref.py), each MLP output is replaced by
    sum of active transcoder features' decoder vectors × activation + b_dec (+ W_skip x) + error,
with the activations, the errors and the token embeddings as autograd leaves. A target's edges are then
grad(target pre-activation) × source value. Nothing here shares code with the TypeScript engine; the
weights are read by Hugging Face name.

Targets: every active feature (its encoder pre-activation at its own layer and position) and the
salient logits (top logits until 0.95 cumulative probability, at most 10; direction = unembedding row
minus the vocabulary mean), as circuit-tracer chooses them. Features and errors at position 0 are
zeroed when --zero-bos is set (circuit-tracer does so when the first token is a special token).

Usage:
  attribution_ref.py --model DIR --transcoders DIR --ids 1,5,7 --out FILE.safetensors [--zero-bos]
Output tensors (F32; integers stored exactly as floats):
  features [n, 3]      (layer, position, feature index) of active features, sorted
  activations [n]      their activations
  errors [L, T, d]     error vectors
  logit_ids [k], logit_probs [k]
  edges [n + k, n + L*T + T]   rows: features then logits; columns: features, errors (layer-major), tokens
  bias [n + k]         each target's value with every source set to zero (the bias terms)
  value [n + k]        each target's value in the replacement model with the real sources
(The attribution bench times the engine against attribution_bench.py, circuit-tracer's method in float32.)
With --prune NODE,EDGE, also circuit-tracer's pruning and scores on the dense adjacency
(nodes: features, errors, tokens, logits), written from its definitions (graph.py):
  influence [N], cumulative [N], node_mask [N], edge_mask [N, N], scores [2] (replacement, completeness)
"""
import argparse
import os
import sys
from collections import OrderedDict

import torch
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from forward_ref import Weights, load_config, load_weights, run  # noqa: E402
from st_io import read_safetensors, write_safetensors  # noqa: E402

DT = torch.float64


# ---------------------------------------------------------------------------------------------------
# Transcoders

def load_transcoders(path, n_layers):
    """Returns (kind, input_hook, layers) where each layer is a dict with W_enc [F,d], b_enc, W_dec
    ([F,d] per-layer or [F, L-i, d] cross-layer), b_dec, threshold (or None), W_skip (or None)."""
    cfg = {}
    if os.path.exists(os.path.join(path, 'config.yaml')):
        with open(os.path.join(path, 'config.yaml')) as f:
            cfg = yaml.safe_load(f) or {}
    in_hook = cfg.get('feature_input_hook', 'hook_resid_mid')  # circuit-tracer's load_clt default
    layers = []
    if os.path.exists(os.path.join(path, 'W_enc_0.safetensors')):
        for i in range(n_layers):
            enc = read_safetensors(os.path.join(path, f'W_enc_{i}.safetensors'))
            dec = read_safetensors(os.path.join(path, f'W_dec_{i}.safetensors'))
            layers.append(dict(W_enc=enc[f'W_enc_{i}'], b_enc=enc[f'b_enc_{i}'], b_dec=enc[f'b_dec_{i}'],
                               threshold=enc.get(f'threshold_{i}'), W_dec=dec[f'W_dec_{i}'], W_skip=None))
        return 'clt', in_hook, layers
    by_layer = {int(t['layer']): t['filepath'] for t in cfg['transcoders']}
    for i in range(n_layers):
        t = read_safetensors(os.path.join(path, by_layer[i]))
        layers.append(dict(W_enc=t['W_enc'], b_enc=t['b_enc'], b_dec=t['b_dec'], W_dec=t['W_dec'],
                           threshold=t.get('activation_function.threshold'), W_skip=t.get('W_skip')))
    return 'plt', in_hook, layers


def reads_resid_mid(in_hook):
    """circuit-tracer names the transcoder input hook_resid_mid (the residual stream before ln2) or the
    MLP's normalised input (mlp.hook_in, ln2.hook_normalized), possibly with a blocks.{layer}. prefix."""
    return in_hook.endswith('hook_resid_mid')


def activation(pre, threshold):
    """JumpReLU (x · [x > θ]) when thresholds are given, else ReLU."""
    if threshold is None:
        return torch.relu(pre)
    return pre * (pre > threshold).to(DT)


def decoder_to(kind, layer, src_layer):
    """The decoder block of features of `src_layer` writing into `layer` ([F, d]), or None."""
    if kind == 'plt':
        return layer['W_dec'] if src_layer is None else None
    return layer['W_dec'][:, src_layer, :]


# ---------------------------------------------------------------------------------------------------
# The frozen model's pieces, by family

class Family:
    def __init__(self, cfg, W):
        mt = cfg.get('model_type')
        self.cfg, self.W, self.mt = cfg, W, mt
        self.gpt2 = mt == 'gpt2'
        self.gemma = mt == 'gemma2'
        self.d = cfg.get('n_embd') or cfg.get('hidden_size')
        self.L = cfg.get('n_layer') or cfg.get('num_hidden_layers')
        self.H = cfg.get('n_head') or cfg.get('num_attention_heads')
        self.Hkv = self.H if self.gpt2 else (cfg.get('num_key_value_heads') or self.H)
        self.hd = (cfg.get('head_dim') or self.d // self.H) if not self.gpt2 else self.d // self.H

    def norm(self, name, x, scale, kind):
        """A normalisation with its scale frozen: RMS x·s·w (Gemma 1 + w); Layer (x − mean)·s·w + b."""
        W = self.W
        s = scale[:, None]
        if kind == 'layer':
            return (x - x.mean(-1, keepdim=True)) * s * W.get(name + '.weight') + W.get(name + '.bias')
        w = W.get(name + '.weight')
        return x * s * ((1.0 + w) if self.gemma else w)

    def names(self, l):
        if self.gpt2:
            return dict(ln1=f'h.{l}.ln_1', ln2=f'h.{l}.ln_2', kind='layer')
        p = f'model.layers.{l}.'
        if self.gemma:
            return dict(ln1=p + 'input_layernorm', ln2=p + 'pre_feedforward_layernorm', ln1post=p + 'post_attention_layernorm', kind='rms')
        return dict(ln1=p + 'input_layernorm', ln2=p + 'post_attention_layernorm', kind='rms')

    def final_norm(self):
        return ('ln_f', 'layer') if self.gpt2 else ('model.norm', 'rms')

    def values(self, l, a_in):
        """Value vectors [Hkv, T, hd]."""
        W, T = self.W, a_in.shape[0]
        if self.gpt2:
            w = W.get(f'h.{l}.attn.c_attn.weight')[:, 2 * self.d:]
            b = W.get(f'h.{l}.attn.c_attn.bias')[2 * self.d:]
            v = a_in @ w + b
        else:
            p = f'model.layers.{l}.self_attn.'
            v = a_in @ W.get(p + 'v_proj.weight').T
            if self.cfg.get('attention_bias', False):
                v = v + W.get(p + 'v_proj.bias')
        return v.reshape(T, self.Hkv, self.hd).transpose(0, 1)

    def out_proj(self, l, z):
        W = self.W
        if self.gpt2:
            return z @ W.get(f'h.{l}.attn.c_proj.weight') + W.get(f'h.{l}.attn.c_proj.bias')
        p = f'model.layers.{l}.self_attn.'
        o = z @ W.get(p + 'o_proj.weight').T
        if self.cfg.get('attention_bias', False):
            o = o + W.get(p + 'o_proj.bias')
        return o

    def unembed(self):
        W = self.W
        if self.gpt2:
            return W.get('wte.weight')
        tied = self.cfg.get('tie_word_embeddings', self.gemma)
        lm = None if tied else W.get('lm_head.weight', required=False)
        return lm if lm is not None else W.get('model.embed_tokens.weight')


def replacement_forward(fam, hooks, kind, in_hook, tcs, feats, acts, errors, tok, pos_embed, feature_targets):
    """Runs the local replacement model. feats: list of (layer, pos, idx); acts [n] leaf; errors
    [L,T,d] leaf; tok [T,d] leaf. Returns (target feature pre-activations [n_targets], final
    normalised residual at the last position [d])."""
    T = tok.shape[0]
    L = fam.L
    x = tok + (pos_embed if pos_embed is not None else 0)
    pre_targets = {}
    by_layer = {}
    for i, (l, p, f) in enumerate(feats):
        by_layer.setdefault(l, []).append((i, p, f))
    for l in range(L):
        n = fam.names(l)
        a_in = fam.norm(n['ln1'], x, hooks[f'blocks.{l}.ln1.hook_scale'], n['kind'])
        v = fam.values(l, a_in)
        rep = fam.H // fam.Hkv
        v = v.repeat_interleave(rep, dim=0)
        z = torch.matmul(hooks[f'blocks.{l}.attn.hook_pattern'], v)  # [H,T,hd]
        attn = fam.out_proj(l, z.transpose(0, 1).reshape(T, -1))
        if fam.gemma:
            attn = fam.norm(n['ln1post'], attn, hooks[f'blocks.{l}.ln1_post.hook_scale'], 'rms')
        x = x + attn
        m_in = fam.norm(n['ln2'], x, hooks[f'blocks.{l}.ln2.hook_scale'], n['kind'])
        inp = x if reads_resid_mid(in_hook) else m_in
        tc = tcs[l]
        pre = inp @ tc['W_enc'].T + tc['b_enc']  # [T, F]
        for (i, p, f) in feature_targets.get(l, []):
            pre_targets[i] = pre[p, f]
        out = tc['b_dec'].expand(T, fam.d) + errors[l]
        if tc['W_skip'] is not None:
            out = out + inp @ tc['W_skip'].T
        src_layers = [l] if kind == 'plt' else range(l + 1)
        for sl in src_layers:
            for (i, p, f) in by_layer.get(sl, []):
                dec = tcs[sl]['W_dec'][f] if kind == 'plt' else tcs[sl]['W_dec'][f, l - sl]
                out = out + torch.nn.functional.one_hot(torch.tensor(p), T).to(DT)[:, None] * (acts[i] * dec)[None, :]
        x = x + out
    name, k = fam.final_norm()
    xf = fam.norm(name, x, hooks['ln_final.hook_scale'], k)
    return pre_targets, xf[-1]


def salient_logits(logits, max_n=10, p=0.95):
    probs = torch.softmax(logits, -1)
    top_p, top_i = torch.topk(probs, min(max_n, probs.shape[0]))
    cum = torch.cumsum(top_p, 0)
    cutoff = int(torch.searchsorted(cum, torch.tensor(p, dtype=cum.dtype))) + 1
    return top_i[:cutoff], top_p[:cutoff]


def attribute(model_dir, tc_dir, ids, zero_bos, logit_ids=None, only_logits=False):
    """logit_ids: explain these tokens (at the last position) instead of the salient logits;
    only_logits: compute only the logit rows (the feature rows are left zero)."""
    cfg = load_config(model_dir)
    hooks = run(model_dir, ids)
    tensors = load_weights(model_dir)
    W = Weights(tensors, ['', 'transformer.'] if cfg.get('model_type') == 'gpt2' else [''])
    fam = Family(cfg, W)
    L, T, d = fam.L, len(ids), fam.d
    kind, in_hook, tcs = load_transcoders(tc_dir, L)
    key = 'hook_resid_mid' if reads_resid_mid(in_hook) else 'ln2.hook_normalized'

    # Active features and errors from the real forward.
    feats, act_vals, dense = [], [], []
    for l in range(L):
        x = hooks[f'blocks.{l}.{key}']
        a = activation(x @ tcs[l]['W_enc'].T + tcs[l]['b_enc'], tcs[l]['threshold'])
        if zero_bos:
            a[0] = 0
        dense.append(a)
        for p, f in torch.nonzero(a, as_tuple=False).tolist():
            feats.append((l, p, f))
            act_vals.append(a[p, f])
    errors = torch.zeros(L, T, d, dtype=DT)
    for l in range(L):
        x = hooks[f'blocks.{l}.{key}']
        recon = tcs[l]['b_dec'].expand(T, d).clone()
        if kind == 'plt':
            recon = recon + dense[l] @ tcs[l]['W_dec']
        else:
            for sl in range(l + 1):
                recon = recon + dense[sl] @ tcs[sl]['W_dec'][:, l - sl, :]
        if tcs[l]['W_skip'] is not None:
            recon = recon + x @ tcs[l]['W_skip'].T
        errors[l] = hooks[f'blocks.{l}.hook_mlp_out'] - recon
    if zero_bos:
        errors[:, 0] = 0

    if logit_ids is None:
        logit_ids, logit_probs = salient_logits(hooks['logits'][-1])
    else:
        logit_ids = torch.tensor(logit_ids, dtype=torch.long)
        logit_probs = torch.softmax(hooks['logits'][-1], -1)[logit_ids]
    WU = fam.unembed()
    dirs = WU[logit_ids] - WU.mean(0, keepdim=True)

    n, k = len(feats), len(logit_ids)
    tok0 = hooks['hook_embed']
    pos_embed = hooks.get('hook_pos_embed')
    feature_targets = {}
    for i, (l, p, f) in enumerate(feats):
        feature_targets.setdefault(l, []).append((i, p, f))

    def targets(acts, errs, tok):
        pre, xf = replacement_forward(fam, hooks, kind, in_hook, tcs, feats, acts, errs, tok, pos_embed, feature_targets)
        ys = [pre[i] for i in range(n)] + [dirs[j] @ xf for j in range(k)]
        return torch.stack(ys)

    acts = torch.tensor([float(v) for v in act_vals], dtype=DT, requires_grad=True)
    errs = errors.clone().requires_grad_(True)
    tok = tok0.clone().requires_grad_(True)
    Y = targets(acts, errs, tok)
    edges = torch.zeros(n + k, n + L * T + T, dtype=DT)
    for r in range(n if only_logits else 0, n + k):
        ga, ge, gt = torch.autograd.grad(Y[r], [acts, errs, tok], retain_graph=True, allow_unused=True)
        if ga is not None:
            edges[r, :n] = ga * acts.detach()
        if ge is not None:
            edges[r, n:n + L * T] = (ge * errors).sum(-1).reshape(-1)
        if gt is not None:
            edges[r, n + L * T:] = (gt * tok0).sum(-1)
    with torch.no_grad():
        bias = targets(torch.zeros(n, dtype=DT), torch.zeros_like(errors), torch.zeros_like(tok0))
    feats_t = torch.tensor(feats, dtype=DT).reshape(-1, 3)
    return OrderedDict([
        ('features', feats_t), ('activations', acts.detach()), ('errors', errors),
        ('logit_ids', logit_ids.to(DT)), ('logit_probs', logit_probs),
        ('edges', edges), ('bias', bias), ('value', Y.detach()),
    ])


# ---------------------------------------------------------------------------------------------------
# Pruning and scores, dense (circuit-tracer's graph.py definitions)

def normalize_matrix(m):
    a = m.abs()
    return a / a.sum(1, keepdim=True).clamp(min=1e-10)


def compute_influence(A, w, max_iter=1000):
    cur = w @ A
    inf = cur.clone()
    it = 0
    while cur.any():
        if it >= max_iter:
            raise RuntimeError('influence did not converge')
        cur = cur @ A
        inf += cur
        it += 1
    return inf


def find_threshold(scores, threshold):
    s = torch.sort(scores, descending=True).values
    cum = torch.cumsum(s, 0) / s.sum()
    i = int(torch.searchsorted(cum, torch.tensor(threshold, dtype=cum.dtype)))
    return s[min(i, len(cum) - 1)]


def prune_and_score(out, L, T, node_thr, edge_thr):
    n = out['features'].shape[0]
    k = out['logit_ids'].shape[0]
    N = n + L * T + T + k
    A = torch.zeros(N, N, dtype=DT)
    A[:n, :n + L * T + T] = out['edges'][:n]
    A[N - k:, :n + L * T + T] = out['edges'][n:]
    w = torch.zeros(N, dtype=DT)
    w[N - k:] = out['logit_probs']
    influence = compute_influence(normalize_matrix(A), w)
    node_mask = influence >= find_threshold(influence, node_thr)
    node_mask[N - k - T:] = True
    P = A.clone()
    P[~node_mask] = 0
    P[:, ~node_mask] = 0
    Pn = normalize_matrix(P)
    pinf = compute_influence(Pn, w) + w
    edge_scores = Pn * pinf[:, None]
    edge_mask = edge_scores >= find_threshold(edge_scores.flatten(), edge_thr)
    old = node_mask.clone()
    node_mask[:N - k - T] &= edge_mask[:, :N - k - T].any(0)
    node_mask[:n] &= edge_mask[:n].any(1)
    while not torch.all(node_mask == old):
        old[:] = node_mask
        edge_mask[~node_mask] = False
        edge_mask[:, ~node_mask] = False
        node_mask[:N - k - T] &= edge_mask[:, :N - k - T].any(0)
        node_mask[:n] &= edge_mask[:n].any(1)
    srt, idx = torch.sort(influence, descending=True)
    cumulative = torch.zeros_like(influence)
    cumulative[idx] = torch.cumsum(srt, 0) / srt.sum()
    # Scores on the unpruned graph.
    An = normalize_matrix(A)
    tok_inf = influence[n + L * T:n + L * T + T].sum()
    err_inf = influence[n:n + L * T].sum()
    replacement = tok_inf / (tok_inf + err_inf)
    non_err = 1 - An[:, n:n + L * T].sum(-1)
    out_inf = influence + w
    completeness = (non_err * out_inf).sum() / out_inf.sum()
    return OrderedDict([('influence', influence), ('cumulative', cumulative), ('node_mask', node_mask.to(DT)),
                        ('edge_mask', edge_mask.to(DT)), ('scores', torch.stack([replacement, completeness]))])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--model', required=True)
    ap.add_argument('--transcoders', required=True)
    ap.add_argument('--ids', required=True)
    ap.add_argument('--out')
    ap.add_argument('--zero-bos', action='store_true')
    ap.add_argument('--activations-only', action='store_true', help='only the active features and activations (edge rows for the logits alone)')
    ap.add_argument('--prune', help='NODE,EDGE thresholds: also write the pruning and scores')
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ids = [int(s) for s in args.ids.split(',') if s.strip()]
    if not args.out:
        ap.error('--out is required')
    out = attribute(args.model, args.transcoders, ids, args.zero_bos, only_logits=args.activations_only)
    if args.prune:
        node_thr, edge_thr = (float(x) for x in args.prune.split(','))
        L = out['errors'].shape[0]
        out.update(prune_and_score(out, L, len(ids), node_thr, edge_thr))
    write_safetensors(args.out, out, 'F32', metadata={'ids': ','.join(map(str, ids))})


if __name__ == '__main__':
    main()

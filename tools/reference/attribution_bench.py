#!/usr/bin/env python3
"""The timing reference of the attribution bench: circuit-tracer's method, written honestly in float32
PyTorch (OpenBLAS), so the engine is compared against what a careful PyTorch implementation does.

What one graph costs here, phase by phase (each timed):
- forward: the real model's forward in float32 (forward_ref's Llama/Qwen3 code), keeping the attention
  patterns and norm scales that the local replacement model freezes;
- encode: per layer, transcoder pre-activations, JumpReLU/ReLU, the active (position, feature) pairs,
  the error vectors (MLP output − reconstruction); the active decoder rows × activation gathered once
  (a batch's encoder rows are gathered with the batch);
- sweeps: the salient logits (top logits to 0.95 probability, at most 10), then features in order of
  partial influence (re-ranked every `update` batches, as circuit-tracer's attribute does), each batch one
  linearised backward pass written out explicitly (frozen patterns and norm scales, MLPs replaced) and
  started at the batch's highest seed layer; at each layer the feature scores are matrix products of the
  residual gradient with the active decoder rows only (one product per position: the rows of the
  features active there), error and token scores are row dot products. Rows are kept sparse (their exact
  zeros dropped) so long prompts fit in memory; partial influence runs over them;
- prune: circuit-tracer's prune_graph on the dense adjacency over the visited features, errors, tokens
  and logits (influence, node and edge thresholds).
Weights are loaded before any timing. Threads: OPENBLAS_NUM_THREADS is set from --threads before torch
loads (torch.set_num_threads alone does not bound Debian's OpenBLAS-pthread).

Usage:
  attribution_bench.py --model DIR --transcoders DIR --threads N [--batch 256] [--max-feature-nodes 8192]
      [--update 4] [--serve]
Without --serve: reads token ids from --ids, runs once, prints one JSON line of timings.
With --serve: loads the weights, prints {"ready": true}, then for each line of comma-separated token ids
on stdin ({"ids": [...], "check": FILE?, "max_feature_nodes": N?}) runs one graph and prints one JSON line
(so a caller can interleave runs with its own, both warm).
--check FILE writes the logit rows and the first --check-rows visited feature rows (dense, every column)
with their (layer, position, index), for the bench to compare edges before timing.
"""
import argparse
import json
import os
import sys
import time


def _early_threads():
    if '--threads' in sys.argv:
        n = sys.argv[sys.argv.index('--threads') + 1]
        for k in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
            os.environ[k] = n


_early_threads()

import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import forward_ref as fr  # noqa: E402
from attribution_ref import load_transcoders, reads_resid_mid, salient_logits  # noqa: E402
from st_io import write_safetensors  # noqa: E402

F32 = torch.float32


class Model:
    """Weights in float32, loaded once (outside every timed region)."""

    def __init__(self, model_dir, tc_dir):
        fr.DT = F32  # forward_ref's rotary tables follow this; the forward then runs in float32
        cfg = fr.load_config(model_dir)
        self.family = cfg.get('model_type')
        if self.family not in ('llama', 'qwen3'):
            raise SystemExit(f'attribution_bench.py: model_type {self.family!r} is not supported (llama, qwen3)')
        self.cfg = cfg
        self.W = fr.Weights({k: v.to(F32).contiguous() for k, v in fr.load_weights(model_dir).items()}, [''])
        self.L = cfg['num_hidden_layers']
        self.d = cfg['hidden_size']
        self.H = cfg['num_attention_heads']
        self.Hkv = cfg.get('num_key_value_heads') or self.H
        self.hd = cfg.get('head_dim') or self.d // self.H
        kind, in_hook, tcs = load_transcoders(tc_dir, self.L)
        if kind != 'plt':
            raise SystemExit('attribution_bench.py: per-layer transcoders only')
        self.resid_mid = reads_resid_mid(in_hook)
        self.tcs = [{k: (v.to(F32).contiguous() if v is not None else None) for k, v in t.items()} for t in tcs]
        W = self.W
        self.wo = [W.get(f'model.layers.{l}.self_attn.o_proj.weight') for l in range(self.L)]  # [d, H*hd]
        self.wv = [W.get(f'model.layers.{l}.self_attn.v_proj.weight') for l in range(self.L)]  # [Hkv*hd, d]
        self.g1 = [W.get(f'model.layers.{l}.input_layernorm.weight') for l in range(self.L)]
        self.g2 = [W.get(f'model.layers.{l}.post_attention_layernorm.weight') for l in range(self.L)]
        self.gf = W.get('model.norm.weight')
        lm = None if cfg.get('tie_word_embeddings', False) else W.get('lm_head.weight', required=False)
        self.WU = lm if lm is not None else W.get('model.embed_tokens.weight')
        self.WU_mean = self.WU.mean(0)


def encode(m, h, T, zero_bos):
    """Active features (layer-major, then position, then index), their decoder rows × activation and
    encoder rows, per layer; error vectors [L, T, d]."""
    key = 'hook_resid_mid' if m.resid_mid else 'ln2.hook_normalized'
    layers = []
    errors = torch.empty(m.L, T, m.d)
    for l in range(m.L):
        tc = m.tcs[l]
        x = h[f'blocks.{l}.{key}']
        pre = x @ tc['W_enc'].T + tc['b_enc']
        act = pre * (pre > tc['threshold']) if tc['threshold'] is not None else torch.relu(pre)
        if zero_bos:
            act[0] = 0
        nz = act.nonzero()  # row-major: by position, then feature
        pos, idx = nz[:, 0], nz[:, 1]
        a = act[pos, idx]
        recon = act @ tc['W_dec'] + tc['b_dec']
        errors[l] = h[f'blocks.{l}.hook_mlp_out'] - recon
        counts = torch.bincount(pos, minlength=T)
        starts = [0] + torch.cumsum(counts, 0).tolist()
        layers.append(dict(pos=pos, idx=idx, act=a, dec=tc['W_dec'][idx] * a[:, None], starts=starts))
    if zero_bos:
        errors[:, 0] = 0
    return layers, errors


class Sweeper:
    """The linearised backward of the local replacement model, for batches of seeds."""

    def __init__(self, m, h, feats, errors, T):
        self.m, self.T, self.feats = m, T, feats
        self.p = [h[f'blocks.{l}.attn.hook_pattern'] for l in range(m.L)]  # [H, T, T]
        self.s1 = [h[f'blocks.{l}.ln1.hook_scale'][:, None] for l in range(m.L)]
        self.s2 = [h[f'blocks.{l}.ln2.hook_scale'][:, None] for l in range(m.L)]
        self.sf = h['ln_final.hook_scale'][:, None]
        self.errors = errors
        self.tokens = h['hook_embed']
        self.off = [0]
        for f in feats:
            self.off.append(self.off[-1] + len(f['pos']))
        self.n = self.off[-1]
        self.n_cols = self.n + m.L * T + T

    def run(self, layers, positions, vecs):
        """Rows [B, n_cols] (features, errors layer-major, tokens) for seeds at (layer, position)."""
        m, T, d, L = self.m, self.T, self.m.d, self.m.L
        B = len(layers)
        rows = torch.zeros(B, self.n_cols)
        top = max(layers)
        g = torch.zeros(B, T, d)
        bi = torch.arange(B)
        lt = torch.tensor(layers)
        pt = torch.tensor(positions)
        if top == L:
            sel = lt == L
            g[bi[sel], pt[sel]] = vecs[sel] * self.sf[pt[sel]] * m.gf
        start = min(top, L - 1)
        for l in range(start, -1, -1):
            if l < top:  # the gradient at layer l's output is zero at the batch's top layer
                f = self.feats[l]
                out = rows[:, self.off[l]:self.off[l + 1]]
                st = f['starts']
                for p in range(T):
                    if st[p + 1] > st[p]:
                        out[:, st[p]:st[p + 1]] = g[:, p, :] @ f['dec'][st[p]:st[p + 1]].T
                rows[:, self.n + l * T:self.n + (l + 1) * T] = (g * self.errors[l]).sum(-1)
            sel = lt == l
            if sel.any():
                inj = torch.zeros(B, T, d)
                inj[bi[sel], pt[sel]] = vecs[sel]
                if not m.resid_mid:
                    inj = inj * self.s2[l] * m.g2[l]
                g = g + inj
            # attention, value/output path: attn = (P · (ln1(x) Wvᵀ)) Woᵀ
            gz = (g @ m.wo[l]).reshape(B, T, m.H, m.hd).transpose(1, 2)  # [B, H, T, hd]
            gv = self.p[l].transpose(-1, -2) @ gz  # [B, H, T(keys), hd]
            rep = m.H // m.Hkv
            if rep > 1:
                gv = gv.reshape(B, m.Hkv, rep, T, m.hd).sum(2)
            gv = gv.transpose(1, 2).reshape(B, T, m.Hkv * m.hd)
            g = g + (gv @ m.wv[l]) * self.s1[l] * m.g1[l]
        rows[:, self.n + L * T:] = (g * self.tokens).sum(-1)
        return rows


class Rows:
    """Visited rows, dense, as circuit-tracer's edge matrix: one preallocated [rows, n_cols] float32
    buffer filled in visiting order, its row owners in `nodes`."""

    def __init__(self, n_rows, n_cols):
        self.A = torch.zeros(n_rows, n_cols)
        self.nodes = torch.empty(n_rows, dtype=torch.long)
        self.n = 0

    def add(self, nodes, rows):
        b = len(nodes)
        self.A[self.n:self.n + b] = rows
        self.nodes[self.n:self.n + b] = torch.as_tensor(nodes)
        self.n += b

    def partial_influence(self, logit_nodes, logit_p, max_iter=128):
        """circuit-tracer's compute_partial_influences over the rows visited so far: one normalised
        |rows| copy, then the power series as dense vector-matrix products."""
        M = self.A[:self.n].abs()
        M /= M.sum(1, keepdim=True).clamp(min=1e-8)
        rows = self.nodes[:self.n]
        prod = torch.zeros(M.shape[1] + len(logit_nodes))
        prod[logit_nodes] = logit_p
        inf = torch.zeros_like(prod)
        for _ in range(max_iter):
            nxt = torch.zeros_like(prod)
            nxt[:M.shape[1]] = prod[rows] @ M
            if not nxt.any():
                return inf
            inf += nxt
            prod = nxt
        raise RuntimeError('partial influence did not converge')


def normalize(a):
    a = a.abs()
    return a / a.sum(1, keepdim=True).clamp(min=1e-10)


def influence(A, w, max_iter=1000):
    cur = w @ A
    inf = cur.clone()
    for _ in range(max_iter):
        cur = cur @ A
        if not cur.any():
            return inf
        inf += cur
    raise RuntimeError('influence did not converge')


def threshold_of(scores, t):
    s = torch.sort(scores, descending=True).values
    cum = torch.cumsum(s, 0) / s.sum()
    i = int(torch.searchsorted(cum, torch.tensor(t, dtype=cum.dtype)))
    return s[min(i, len(cum) - 1)]


def prune(A, w, n_feat, n_keep_always, node_thr=0.8, edge_thr=0.98):
    """circuit-tracer's prune_graph on the dense adjacency (nodes: features, errors, tokens, logits)."""
    N = A.shape[0]
    inf = influence(normalize(A), w)
    node_mask = inf >= threshold_of(inf, node_thr)
    node_mask[N - n_keep_always:] = True
    P = A.clone()
    P[~node_mask] = 0
    P[:, ~node_mask] = 0
    Pn = normalize(P)
    pinf = influence(Pn, w) + w
    edge_scores = Pn * pinf[:, None]
    edge_mask = edge_scores >= threshold_of(edge_scores.flatten(), edge_thr)
    old = node_mask.clone()
    node_mask[:N - n_keep_always] &= edge_mask[:, :N - n_keep_always].any(0)
    node_mask[:n_feat] &= edge_mask[:n_feat].any(1)
    while not torch.equal(node_mask, old):
        old[:] = node_mask
        edge_mask[~node_mask] = False
        edge_mask[:, ~node_mask] = False
        node_mask[:N - n_keep_always] &= edge_mask[:, :N - n_keep_always].any(0)
        node_mask[:n_feat] &= edge_mask[:n_feat].any(1)
    return int(node_mask.sum()), int(edge_mask.sum())


def graph(m, ids, B, max_feat, update, zero_bos, check=None, check_rows=64):
    T, L = len(ids), m.L
    t0 = time.perf_counter()
    h = fr.forward_llama_like(m.cfg, m.W, torch.tensor(ids), None, m.family)
    t1 = time.perf_counter()
    feats, errors = encode(m, h, T, zero_bos)
    logit_ids, logit_p = salient_logits(h['logits'][-1])
    dirs = m.WU[logit_ids] - m.WU_mean
    t2 = time.perf_counter()

    sw = Sweeper(m, h, feats, errors, T)
    n, k = sw.n, len(logit_ids)
    n_nodes = sw.n_cols + k
    logit_nodes = torch.arange(sw.n_cols, n_nodes)
    max_feat = min(max_feat, n)
    store = Rows(max_feat + k, sw.n_cols)
    kept = []  # (node, dense row) for --check
    batches = 0

    def run(nodes, layers, positions, vecs):
        nonlocal batches
        rows = sw.run(layers, positions, vecs)
        store.add(nodes, rows)
        if check is not None:
            for i, nd in enumerate(nodes):
                if nd >= sw.n_cols or sum(1 for x in kept if x[0] < sw.n_cols) < check_rows:
                    kept.append((nd, rows[i].clone()))
        batches += 1

    for i in range(0, k, B):
        j = list(range(i, min(k, i + B)))
        run([sw.n_cols + x for x in j], [L] * len(j), [T - 1] * len(j), dirs[j])

    f_layer = torch.cat([torch.full((len(f['pos']),), l, dtype=torch.long) for l, f in enumerate(feats)])
    f_pos = torch.cat([f['pos'] for f in feats])
    f_idx = torch.cat([f['idx'] for f in feats])

    def seeds_of(idx):  # encoder rows of the batch's features only (gathering all of them costs GBs)
        return torch.stack([m.tcs[int(l)]['W_enc'][int(i)] for l, i in zip(f_layer[idx], f_idx[idx])])
    visited = torch.zeros(n, dtype=torch.bool)
    order = []
    n_visited = 0
    while n_visited < max_feat:
        if max_feat == n:
            pending = torch.arange(n)
        else:
            inf = store.partial_influence(logit_nodes, logit_p)
            rank = torch.argsort(inf[:n], descending=True)
            pending = rank[~visited[rank]][:min(update * B, max_feat - n_visited)]
        for i in range(0, len(pending), B):
            idx = pending[i:i + B]
            visited[idx] = True
            n_visited += len(idx)
            order.extend(idx.tolist())
            run(idx.tolist(), f_layer[idx].tolist(), f_pos[idx].tolist(), seeds_of(idx))
    t3 = time.perf_counter()

    # The graph: visited features (ascending), errors, tokens, logits; dense, as circuit-tracer's Graph.
    sel = visited.nonzero().squeeze(1)
    col_map = torch.full((n_nodes,), -1, dtype=torch.long)
    col_map[sel] = torch.arange(len(sel))
    col_map[n:] = torch.arange(len(sel), len(sel) + n_nodes - n)
    N = len(sel) + n_nodes - n
    A = torch.zeros(N, N)
    cols = torch.cat([sel, torch.arange(n, sw.n_cols)])
    A[col_map[store.nodes[:store.n]], :len(cols)] = store.A[:store.n].index_select(1, cols).abs()
    w = torch.zeros(N)
    w[N - k:] = logit_p
    n_nodes_kept, n_edges_kept = prune(A, w, len(sel), L * T + T + k)
    t4 = time.perf_counter()

    if check is not None:
        feat_rows = [(nd, r) for nd, r in kept if nd < sw.n_cols]
        logit_rows = [(nd, r) for nd, r in kept if nd >= sw.n_cols]
        fl = torch.tensor([[float(f_layer[nd]), float(f_pos[nd]), float(f_idx[nd])] for nd, _ in feat_rows]).reshape(-1, 3)
        write_safetensors(check, {
            'logit_ids': logit_ids.to(F32), 'logit_rows': torch.stack([r for _, r in logit_rows]),
            'feature_ids': fl, 'feature_rows': torch.stack([r for _, r in feat_rows]) if feat_rows else torch.zeros(0, sw.n_cols),
            'n_features_per_layer': torch.tensor([float(len(f['pos'])) for f in feats]),
            # Every active feature's (layer, position, index), in column order: a feature whose JumpReLU
            # pre-activation sits within f32 rounding of its threshold may be active on one side only.
            'feature_keys': torch.stack([f_layer.float(), f_pos.float(), f_idx.float()], 1),
        }, 'F32')
    return {
        'tokens': T, 'features': n, 'visited': int(visited.sum()), 'logits': k, 'batches': batches, 'batch_size': B,
        'threads': torch.get_num_threads(), 'openblas_threads': os.environ.get('OPENBLAS_NUM_THREADS'),
        'forward_s': t1 - t0, 'encode_s': t2 - t1, 'sweeps_s': t3 - t2, 'prune_s': t4 - t3, 'total_s': t4 - t0,
        'nnz': int((store.A[:store.n] != 0).sum()), 'pruned_nodes': n_nodes_kept, 'pruned_edges': n_edges_kept,
    }



def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--model', required=True)
    ap.add_argument('--transcoders', required=True)
    ap.add_argument('--ids')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--max-feature-nodes', type=int, default=8192)
    ap.add_argument('--update', type=int, default=4)
    ap.add_argument('--zero-bos', action='store_true')
    ap.add_argument('--check', help='write the logit rows and the first visited feature rows here')
    ap.add_argument('--check-rows', type=int, default=64)
    ap.add_argument('--serve', action='store_true')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    m = Model(args.model, args.transcoders)
    run = lambda ids, check=None: graph(m, ids, args.batch, args.max_feature_nodes, args.update, args.zero_bos, check, args.check_rows)  # noqa: E731
    if not args.serve:
        print(json.dumps(run([int(x) for x in args.ids.split(',')], args.check)), flush=True)
        return
    print(json.dumps({'ready': True}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        n = req.get('max_feature_nodes', args.max_feature_nodes)
        print(json.dumps(graph(m, req['ids'], args.batch, n, args.update, args.zero_bos, req.get('check'), args.check_rows)), flush=True)


if __name__ == '__main__':
    main()

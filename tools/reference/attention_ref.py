#!/usr/bin/env python3
"""Independent PyTorch reference for attention in attribution graphs: head loadings and QK attribution.

Everything is float64, from the checkpoint's weights by Hugging Face name and the hooks of the
independent reference forward (forward_ref.py); nothing is shared with the TypeScript engine. Where the
engine propagates *backward* (one gradient per target), this reference propagates each source *forward*
through the frozen replacement model, so the two meet only in the answers.

Head loadings (--heads JOB.json): for each edge source → target (positions differ), the part carried
by (layer l, head h) under the first-hop definition: the source's vector is carried up at its own
position with every head's attention restricted to its diagonal P_h[p, p] (plus the residual stream,
skip paths and, for a cross-layer transcoder feature, its later decoder blocks) until layer l; there,
only head h's off-diagonal pattern (P_h with its diagonal zeroed) moves it; from layer l's resid_mid on,
the full frozen model carries it to the target. Output: heads [E, L, H], total [E] (the full edge).

QK attribution (--qk JOB.json): for layer l, query head h, query position q and key position k, every
source's contribution to resid_pre(l) at q and at k by forward propagation (all sources at once, as a
batch), the constant part by the replacement model run with every source at zero (plus, with BOS
zeroing, the BOS MLP output that is then not a source), mapped through the frozen ln1 and W_Q / W_K
(Qwen3's q/k norm with its scale frozen at the real vector's, then rotary). Output:
  qvec [n_src + 1, hd], kvec [n_src + 1, hd]  (last row: the constant part), score_pre [1]
  (the real q·k·scale, before Gemma-2's soft-cap), score [1] (after it), pattern [1] (real softmax value).

Job files name sources as ["feature", layer, pos, index] | ["error", layer, pos] | ["embedding", pos]
and head-loading targets as ["feature", layer, pos, index] | ["logit", token_id].

Usage: attention_ref.py --model DIR --transcoders DIR --ids 1,5,7 [--zero-bos] (--heads|--qk) JOB.json --out F.safetensors
"""
import argparse
import json
import os
import sys
from collections import OrderedDict

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from forward_ref import Weights, apply_rope, load_config, load_weights, rope_inv_freq, run  # noqa: E402
from attribution_ref import Family, activation, load_transcoders, reads_resid_mid  # noqa: E402
from st_io import write_safetensors  # noqa: E402

DT = torch.float64


class Frozen:
    """The prompt's frozen replacement model, linear part and constants."""

    def __init__(self, model_dir, tc_dir, ids, zero_bos):
        self.cfg = cfg = load_config(model_dir)
        self.hooks = run(model_dir, ids)
        tensors = load_weights(model_dir)
        self.W = Weights(tensors, ['', 'transformer.'] if cfg.get('model_type') == 'gpt2' else [''])
        self.fam = Family(cfg, self.W)
        self.L, self.T, self.d = self.fam.L, len(ids), self.fam.d
        self.kind, in_hook, self.tcs = load_transcoders(tc_dir, self.L)
        self.resid_mid_in = reads_resid_mid(in_hook)
        self.zero_bos = zero_bos
        key = 'hook_resid_mid' if self.resid_mid_in else 'ln2.hook_normalized'
        self.inputs = [self.hooks[f'blocks.{l}.{key}'] for l in range(self.L)]
        self.acts = []
        for l in range(self.L):
            a = activation(self.inputs[l] @ self.tcs[l]['W_enc'].T + self.tcs[l]['b_enc'], self.tcs[l]['threshold'])
            if zero_bos:
                a[0] = 0
            self.acts.append(a)

    # -- pieces -------------------------------------------------------------------------------------
    def gain(self, name):
        w = self.W.get(name + '.weight')
        return (1.0 + w) if self.fam.gemma else w

    def norm_lin(self, name, x, scale, kind):
        """The frozen norm without its bias: (centred) x · s · w."""
        if kind == 'layer':
            x = x - x.mean(-1, keepdim=True)
        return x * scale[..., None] * self.gain(name)

    def attn_lin(self, l, x, pattern):
        """Linear attention of layer l on a batch of fields x [B, T, d] with the given pattern [H, T, T]."""
        fam, n = self.fam, self.fam.names(l)
        a_in = self.norm_lin(n['ln1'], x, self.hooks[f'blocks.{l}.ln1.hook_scale'], n['kind'])
        B = x.shape[0]
        if fam.gpt2:
            v = a_in @ self.W.get(f'h.{l}.attn.c_attn.weight')[:, 2 * self.d:]
        else:
            v = a_in @ self.W.get(f'model.layers.{l}.self_attn.v_proj.weight').T
        v = v.reshape(B, self.T, fam.Hkv, fam.hd).permute(0, 2, 1, 3).repeat_interleave(fam.H // fam.Hkv, dim=1)
        z = torch.matmul(pattern.unsqueeze(0), v)  # [B, H, T, hd]
        z = z.permute(0, 2, 1, 3).reshape(B, self.T, -1)
        if fam.gpt2:
            out = z @ self.W.get(f'h.{l}.attn.c_proj.weight')
        else:
            out = z @ self.W.get(f'model.layers.{l}.self_attn.o_proj.weight').T
        if fam.gemma:
            out = self.norm_lin(n['ln1post'], out, self.hooks[f'blocks.{l}.ln1_post.hook_scale'], 'rms')
        return out

    def transcoder_in(self, l, x_mid, bias=False):
        n = self.fam.names(l)
        if self.resid_mid_in:
            return x_mid
        y = self.norm_lin(n['ln2'], x_mid, self.hooks[f'blocks.{l}.ln2.hook_scale'], n['kind'])
        if bias and n['kind'] == 'layer':
            y = y + self.W.get(n['ln2'] + '.bias')
        return y

    def skip(self, l, x_mid, bias=False):
        ws = self.tcs[l]['W_skip']
        if ws is None:
            return torch.zeros_like(x_mid)
        return self.transcoder_in(l, x_mid, bias) @ ws.T

    def pattern(self, l):
        return self.hooks[f'blocks.{l}.attn.hook_pattern']

    def decoder(self, l, p, f, j):
        """Decoder block of feature (l, p, f) written into layer j, times its activation; None if none."""
        a = self.acts[l][p, f]
        if self.kind == 'plt':
            return a * self.tcs[l]['W_dec'][f] if j == l else None
        return a * self.tcs[l]['W_dec'][f, j - l] if j >= l else None

    def error(self, l):
        recon = self.tcs[l]['b_dec'].expand(self.T, self.d).clone()
        if self.kind == 'plt':
            recon = recon + self.acts[l] @ self.tcs[l]['W_dec']
        else:
            for sl in range(l + 1):
                recon = recon + self.acts[sl] @ self.tcs[sl]['W_dec'][:, l - sl, :]
        if self.tcs[l]['W_skip'] is not None:
            recon = recon + self.inputs[l] @ self.tcs[l]['W_skip'].T
        e = self.hooks[f'blocks.{l}.hook_mlp_out'] - recon
        if self.zero_bos:
            e[0] = 0
        return e

    # -- sources --------------------------------------------------------------------------------------
    def source_writes(self, src):
        """[(layer it enters at resid_post, or -1 for resid_pre(0), position, vector)]."""
        if src[0] == 'feature':
            _, l, p, f = src
            return [(j, p, self.decoder(l, p, f, j)) for j in range(l, self.L) if self.decoder(l, p, f, j) is not None]
        if src[0] == 'error':
            _, l, p = src
            return [(l, p, self.error(l)[p])]
        return [(-1, src[1], self.hooks['hook_embed'][src[1]])]

    def propagate(self, fields, writes, start, stop, patterns=None, head_only=None):
        """Carries fields [B, T, d] from resid_pre(start) through layers start..stop-1 (linear model),
        adding writes[b] = [(layer, pos, vec)] at resid_post(layer). Returns the fields at resid_pre(stop)."""
        x = fields
        for l in range(start, stop):
            P = self.pattern(l) if patterns is None else patterns(l)
            x = x + self.attn_lin(l, x, P)
            x = x + self.skip(l, x)
            for b, ws in enumerate(writes):
                for (j, p, v) in ws:
                    if j == l:
                        x[b, p] = x[b, p] + v
        return x

    def readout(self, target, x_pre_or_mid):
        """The target read from a field at resid_mid(layer) (feature) or resid_pre(L) (logit)."""
        if target[0] == 'feature':
            _, l, p, f = target
            return self.transcoder_in(l, x_pre_or_mid)[:, p] @ self.tcs[l]['W_enc'][f]
        _, tok = target
        WU = self.fam.unembed()
        direction = WU[tok] - WU.mean(0)
        name, k = self.fam.final_norm()
        xf = self.norm_lin(name, x_pre_or_mid[:, -1:, :], self.hooks['ln_final.hook_scale'][-1:], k)[:, 0]
        return xf @ direction

    def to_target(self, target, x, from_layer, at_mid):
        """Fields x at resid_mid(from_layer) (at_mid) or resid_pre(from_layer) carried to the target."""
        if target[0] == 'feature' and at_mid and from_layer == target[1]:
            return self.readout(target, x)
        if at_mid:
            x = x + self.skip(from_layer, x)
            from_layer += 1
        stop = target[1] if target[0] == 'feature' else self.L
        x = self.propagate(x, [[]] * x.shape[0], from_layer, stop)
        if target[0] == 'feature':
            x = x + self.attn_lin(stop, x, self.pattern(stop))
        return self.readout(target, x)


def layer_type(cfg, l):
    """'sliding_attention' or 'full_attention', as forward_ref decides it (rotary may differ by type)."""
    mt = cfg.get('model_type')
    types = cfg.get('layer_types')
    if types is not None and mt in ('gemma2', 'qwen3'):
        if mt == 'gemma2' or cfg.get('use_sliding_window'):
            return types[l]
    if mt == 'gemma2':
        return 'sliding_attention' if l % 2 == 0 else 'full_attention'
    if mt == 'qwen3' and cfg.get('use_sliding_window') and cfg.get('sliding_window'):
        return 'sliding_attention' if l >= cfg.get('max_window_layers', cfg['num_hidden_layers']) else 'full_attention'
    return 'full_attention'


def head_loadings(fr, job):
    L, T, d = fr.L, fr.T, fr.d
    H = fr.fam.H
    heads = torch.zeros(len(job['edges']), L, H, dtype=DT)
    total = torch.zeros(len(job['edges']), dtype=DT)
    for e, edge in enumerate(job['edges']):
        src, tgt = edge['source'], edge['target']
        writes = fr.source_writes(src)
        first = writes[0][0] + 1
        last = tgt[1] if tgt[0] == 'feature' else L - 1
        # The full edge: all paths.
        x0 = torch.zeros(1, T, d, dtype=DT)
        x0[0, writes[0][1]] = writes[0][2]  # at resid_post(first − 1) = resid_pre(first)
        rest = writes[1:]
        stop = tgt[1] if tgt[0] == 'feature' else L
        full = fr.propagate(x0.clone(), [rest], max(first, 0), stop)
        if tgt[0] == 'feature':
            full = full + fr.attn_lin(stop, full, fr.pattern(stop))
        total[e] = fr.readout(tgt, full)[0]
        p = writes[0][1]
        diag = lambda l: torch.diag_embed(torch.diagonal(fr.pattern(l), dim1=-2, dim2=-1))  # noqa: E731
        for l in range(max(first, 0), last + 1):
            # The source kept at its position up to resid_pre(l), then one head's off-diagonal hop.
            local = fr.propagate(x0.clone(), [rest], max(first, 0), l, patterns=diag)
            off = fr.pattern(l) - diag(l)
            for h in range(H):
                mask = torch.zeros(H, 1, 1, dtype=DT)
                mask[h] = 1
                y = fr.attn_lin(l, local, off * mask)
                assert torch.all(y[0, p] == 0)
                heads[e, l, h] = fr.to_target(tgt, y, l, True)[0]
    return OrderedDict([('heads', heads), ('total', total)])


def qk(fr, job):
    """Per-source query/key vectors of one head at (q, k), the constant rows last."""
    fam, W, cfg = fr.fam, fr.W, fr.cfg
    L, T, d = fr.L, fr.T, fr.d
    l, h, qp, kp = job['layer'], job['head'], job['query'], job['key']
    sources = job['sources']
    # Every source's contribution to resid_pre(l), all positions, as one batch.
    B = len(sources)
    x = torch.zeros(B, T, d, dtype=DT)
    writes = []
    for b, s in enumerate(sources):
        ws = fr.source_writes(s)
        if ws[0][0] < 0:
            x[b, ws[0][1]] = ws[0][2]
            ws = ws[1:]
        writes.append(ws)
    contrib = fr.propagate(x, writes, 0, l)
    # The constant part: the replacement model with every source at zero (affine: with biases).
    c = torch.zeros(T, d, dtype=DT)
    if 'hook_pos_embed' in fr.hooks:
        c = c + fr.hooks['hook_pos_embed']
    for j in range(l):
        n = fam.names(j)
        a_in = fam.norm(n['ln1'], c, fr.hooks[f'blocks.{j}.ln1.hook_scale'], n['kind'])
        v = fam.values(j, a_in).repeat_interleave(fam.H // fam.Hkv, dim=0)
        z = torch.matmul(fr.pattern(j), v).transpose(0, 1).reshape(T, -1)
        att = fam.out_proj(j, z)
        if fam.gemma:
            att = fam.norm(n['ln1post'], att, fr.hooks[f'blocks.{j}.ln1_post.hook_scale'], 'rms')
        c = c + att
        mlp = fr.tcs[j]['b_dec'].expand(T, d) + fr.skip(j, c[None], bias=True)[0]
        if fr.zero_bos:
            real_skip = fr.inputs[j][0] @ fr.tcs[j]['W_skip'].T if fr.tcs[j]['W_skip'] is not None else 0
            bos = fr.hooks[f'blocks.{j}.hook_mlp_out'][0] - fr.tcs[j]['b_dec'] - real_skip
            mlp = mlp.clone()
            mlp[0] = mlp[0] + bos
        c = c + mlp
    real = fr.hooks[f'blocks.{l}.hook_resid_pre']
    recon = contrib.sum(0) + c
    assert torch.allclose(recon, real, rtol=1e-9, atol=1e-9 * real.abs().max()), 'sources + constant ≠ the real residual'
    rows = torch.cat([contrib, c[None]], 0)  # [B + 1, T, d]
    n = fam.names(l)
    s1 = fr.hooks[f'blocks.{l}.ln1.hook_scale']
    ln1_bias = W.get(n['ln1'] + '.bias') if n['kind'] == 'layer' else None
    hd, rep = fam.hd, fam.H // fam.Hkv
    kv = h // rep
    if fam.gpt2:
        wqkv, bqkv = W.get(f'h.{l}.attn.c_attn.weight'), W.get(f'h.{l}.attn.c_attn.bias')
        Wq = wqkv[:, h * hd:(h + 1) * hd]
        Wk = wqkv[:, d + kv * hd:d + (kv + 1) * hd]
        bq, bk = bqkv[h * hd:(h + 1) * hd], bqkv[d + kv * hd:d + (kv + 1) * hd]
    else:
        p = f'model.layers.{l}.self_attn.'
        Wq = W.get(p + 'q_proj.weight')[h * hd:(h + 1) * hd].T
        Wk = W.get(p + 'k_proj.weight')[kv * hd:(kv + 1) * hd].T
        bias = cfg.get('attention_bias', False)
        bq = W.get(p + 'q_proj.bias')[h * hd:(h + 1) * hd] if bias else torch.zeros(hd, dtype=DT)
        bk = W.get(p + 'k_proj.bias')[kv * hd:(kv + 1) * hd] if bias else torch.zeros(hd, dtype=DT)

    def side(pos, Wx, bx, norm_name):
        lin = fr.norm_lin(n['ln1'], rows[:, pos], s1[pos].expand(rows.shape[0]), n['kind']) @ Wx  # [B+1, hd]
        const = bx.clone()
        if ln1_bias is not None:
            const = const + ln1_bias @ Wx
        lin[-1] = lin[-1] + const
        real_vec = lin.sum(0)
        if norm_name is not None:
            # Qwen3: RMSNorm over the head's vector, its scale frozen at the real vector's.
            w = W.get(f'model.layers.{l}.self_attn.{norm_name}.weight')
            scale = torch.rsqrt(real_vec.pow(2).mean() + cfg.get('rms_norm_eps', 1e-6))
            lin = lin * scale * w
        if not fam.gpt2:
            inv = rope_inv_freq(cfg, hd, layer_type(cfg, l))
            lin = apply_rope(lin[:, None, :], inv, torch.full((1,), pos, dtype=torch.long))[:, 0, :]
        return lin

    qn = 'q_norm' if cfg.get('model_type') == 'qwen3' else None
    kn = 'k_norm' if cfg.get('model_type') == 'qwen3' else None
    qv = side(qp, Wq, bq, qn)
    kvv = side(kp, Wk, bk, kn)
    if fam.gemma:
        scale = float(cfg['query_pre_attn_scalar']) ** -0.5
    elif fam.gpt2:
        scale = 1.0 / (hd ** 0.5)
    else:
        scale = hd ** -0.5
    pre = (qv.sum(0) @ kvv.sum(0)) * scale
    cap = cfg.get('attn_logit_softcapping') if fam.gemma else None
    score = torch.tanh(pre / cap) * cap if cap else pre
    return OrderedDict([('qvec', qv), ('kvec', kvv), ('score_pre', pre.reshape(1)), ('score', score.reshape(1)),
                        ('pattern', fr.pattern(l)[h, qp, kp].reshape(1)), ('scale', torch.tensor([scale], dtype=DT))])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', required=True)
    ap.add_argument('--transcoders', required=True)
    ap.add_argument('--ids', required=True)
    ap.add_argument('--zero-bos', action='store_true')
    ap.add_argument('--heads')
    ap.add_argument('--qk')
    ap.add_argument('--out', required=True)
    a = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    ids = [int(x) for x in a.ids.split(',')]
    fr = Frozen(a.model, a.transcoders, ids, a.zero_bos)
    if a.heads:
        with open(a.heads) as f:
            out = head_loadings(fr, json.load(f))
    else:
        with open(a.qk) as f:
            out = qk(fr, json.load(f))
    write_safetensors(a.out, out)


if __name__ == '__main__':
    main()

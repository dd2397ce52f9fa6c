"""Decomposition report reference: L0, FVU and spliced loss of a dictionary, in float64 PyTorch.

Independent of the engine: the model runs through forward_ref.py, the dictionary is read from its files
here (circuit-tracer transcoders / CLT through attribution_ref.load_transcoders, a SAELens SAE directly).
Definitions as in src/engine/decompositions/reconstruction.ts: BOS (position 0) is left out of L0 and
FVU and never spliced; the spliced run replaces every dictionary layer in order, each reading the
spliced stream; CE over positions 0..T-2, KL(clean || spliced) over all positions.

Usage: decomposition_ref.py --model DIR --dictionary DIR --ids 1,2,3   (prints JSON)
"""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from attribution_ref import activation, load_transcoders  # noqa: E402
from forward_ref import load_config, run  # noqa: E402
from st_io import read_safetensors  # noqa: E402

DT = torch.float64


def load_dictionary(path, n_layers):
    """(kind, [(layer, encode(x) -> acts, decode(acts_by_layer, x) -> recon, in_hook, out_hook)])."""
    if os.path.exists(os.path.join(path, 'cfg.json')):
        with open(os.path.join(path, 'cfg.json')) as f:
            cfg = json.load(f)
        t = read_safetensors(os.path.join(path, 'sae_weights.safetensors'))
        W_enc, b_enc, W_dec, b_dec = t['W_enc'].to(DT), t['b_enc'].to(DT), t['W_dec'].to(DT), t['b_dec'].to(DT)
        thr = t.get('threshold')
        thr = thr.to(DT) if thr is not None and cfg.get('architecture') == 'jumprelu' else None
        hook = cfg['hook_name']
        layer = int(cfg['hook_layer'])

        def enc(x):
            xin = x - b_dec if cfg.get('apply_b_dec_to_input') else x
            return activation(xin @ W_enc + b_enc, thr)

        def dec(acts, x):
            return acts[layer] @ W_dec + b_dec

        return 'sae', [(layer, enc, dec, hook, hook)]
    kind, in_hook, layers = load_transcoders(path, n_layers)
    name = in_hook.split('.', 2)[-1] if in_hook.startswith('blocks.') else in_hook
    out = []
    for i, L in enumerate(layers):
        def enc(x, L=L):
            return activation(x @ L['W_enc'].to(DT).T + L['b_enc'].to(DT), None if L['threshold'] is None else L['threshold'].to(DT))

        def dec(acts, x, i=i, L=L):
            r = L['b_dec'].to(DT).clone()
            if kind == 'plt':
                r = r + acts[i] @ L['W_dec'].to(DT)
                if L['W_skip'] is not None:
                    r = r + x @ L['W_skip'].to(DT).T
            else:
                for src in range(i + 1):
                    r = r + acts[src] @ layers[src]['W_dec'].to(DT)[:, i - src, :]
            return r

        out.append((i, enc, dec, f'blocks.{i}.{name}', f'blocks.{i}.hook_mlp_out'))
    return kind, out


def ce(logits, ids):
    lp = torch.log_softmax(logits.to(DT), -1)
    return float(-lp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].mean())


def kl(clean, other):
    p = torch.log_softmax(clean.to(DT), -1)
    q = torch.log_softmax(other.to(DT), -1)
    return float((p.exp() * (p - q)).sum(-1).mean())


def report(model, dictionary, ids):
    cfg = load_config(model)
    n_layers = cfg.get('n_layer') or cfg.get('num_hidden_layers')
    d = cfg.get('n_embd') or cfg.get('hidden_size')
    T = len(ids)
    kind, layers = load_dictionary(dictionary, n_layers)
    clean = {k: v.to(DT) for k, v in run(model, ids).items()}
    out = {'layers': []}
    acts = {}
    for (layer, enc, dec, in_hook, out_hook) in layers:
        x = clean[in_hook]
        acts[layer] = enc(x)
        recon = dec(acts, x)
        y = clean[out_hook]
        a = acts[layer][1:]
        e = ((y[1:] - recon[1:]) ** 2).sum()
        c = ((y[1:] - y[1:].mean(0)) ** 2).sum()
        out['layers'].append({'layer': layer, 'l0': float((a != 0).sum(-1).to(DT).mean()), 'fvu': float(e / c)})
    # Splice layer by layer (BOS exact).
    delta = torch.zeros(n_layers, T, d, dtype=DT)
    acts = {}
    hooks = clean
    for (layer, enc, dec, in_hook, out_hook) in layers:
        x = hooks[in_hook]
        acts[layer] = enc(x)
        recon = dec(acts, x)
        actual = hooks[out_hook] - delta[layer]
        delta[layer, 1:] = recon[1:] - actual[1:]
        hooks = {k: v.to(DT) for k, v in run(model, ids, delta.clone()).items()}
    out['ce_clean'] = ce(clean['logits'], ids)
    out['ce_spliced'] = ce(hooks['logits'], ids)
    out['kl_spliced'] = kl(clean['logits'], hooks['logits'])
    out['kind'] = kind
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--model', required=True)
    ap.add_argument('--dictionary', required=True)
    ap.add_argument('--ids', required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(json.dumps(report(a.model, a.dictionary, [int(x) for x in a.ids.split(',')])))


if __name__ == '__main__':
    main()

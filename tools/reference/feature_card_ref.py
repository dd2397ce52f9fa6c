#!/usr/bin/env python3
"""Independent PyTorch reference for a feature card's two logit views (src/engine/features/logit-views.ts).

In general: the feature's decoder vector (summed over the layers a CLT writes to) times the final norm's
gain (Gemma: 1 + w; LayerNorm: centred first), dotted with every unembedding row minus the vocabulary
mean: raw [V]. Standardised: for each token, (raw − mean over the layer's features) / std over them
(population std; all features of the layer).

In the prompt: the feature's direct effect on given logits at its position p, by autograd through the
local replacement model (attribution_ref.py: frozen attention patterns and norm scales, features and
errors as leaves), with the prompt cut after p — the model is causal, so positions ≤ p are unchanged and
the final residual at p is the last one — and the logit directions W_U[v] − mean W_U.

Usage:
  feature_card_ref.py --model DIR --transcoders DIR --queries JSON --out F.safetensors [--ids 1,5,7] [--zero-bos]
JSON: a list of {"layer": L, "index": I[, "position": P, "logit_ids": [..]]} (position and logit_ids
need --ids). Output (F32), for query q: general_raw_q [V], general_z_q [V]; with a position:
in_prompt_q [k], activation_q [1].
"""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from attribution_ref import DT, Family, attribute, load_transcoders  # noqa: E402
from forward_ref import Weights, load_config, load_weights  # noqa: E402
from st_io import write_safetensors  # noqa: E402


def readout(fam, W, dec):
    """[F, d] decoder rows as the unembedding sees them: centred under a LayerNorm, times the final gain."""
    name, kind = fam.final_norm()
    w = W.get(name + '.weight')
    if kind == 'layer':
        dec = dec - dec.mean(-1, keepdim=True)
    return dec * ((1.0 + w) if fam.gemma else w)


def general(model_dir, tc_dir, layer, index):
    cfg = load_config(model_dir)
    W = Weights(load_weights(model_dir), ['', 'transformer.'] if cfg.get('model_type') == 'gpt2' else [''])
    fam = Family(cfg, W)
    _, _, tcs = load_transcoders(tc_dir, fam.L)
    dec = tcs[layer]['W_dec'].to(DT)
    if dec.dim() == 3:
        dec = dec.sum(1)
    WU = fam.unembed().to(DT)
    R = readout(fam, W, dec) @ (WU - WU.mean(0, keepdim=True)).T  # [F, V]
    mean, std = R.mean(0), R.std(0, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return R[index], (R[index] - mean) / std


def in_prompt(model_dir, tc_dir, ids, position, layer, index, logit_ids, zero_bos):
    out = attribute(model_dir, tc_dir, ids[:position + 1], zero_bos, logit_ids=logit_ids, only_logits=True)
    feats = out['features'].tolist()
    col = [i for i, f in enumerate(feats) if int(f[0]) == layer and int(f[1]) == position and int(f[2]) == index]
    if not col:
        raise SystemExit(f'feature L{layer}#{index} is not active at position {position}')
    n = len(feats)
    k = len(logit_ids)
    return out['edges'][n:n + k, col[0]], out['activations'][col[0]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--model', required=True)
    ap.add_argument('--transcoders', required=True)
    ap.add_argument('--queries', required=True)
    ap.add_argument('--ids')
    ap.add_argument('--zero-bos', action='store_true')
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    torch.set_num_threads(1)
    ids = [int(x) for x in a.ids.split(',')] if a.ids else None
    tensors = {}
    for q, query in enumerate(json.loads(a.queries)):
        raw, z = general(a.model, a.transcoders, query['layer'], query['index'])
        tensors[f'general_raw_{q}'] = raw
        tensors[f'general_z_{q}'] = z
        if 'position' in query:
            vals, act = in_prompt(a.model, a.transcoders, ids, query['position'], query['layer'], query['index'], query['logit_ids'], a.zero_bos)
            tensors[f'in_prompt_{q}'] = vals
            tensors[f'activation_{q}'] = act.reshape(1)
    write_safetensors(a.out, tensors, 'F32')


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""Residual-stream SAEs (SAELens layout) for the random-weight fixture models, for the SAE-graph tests.

Writes test/fixtures/saes/<model>/cfg.json + sae_weights.safetensors for llama-tiny, gpt2-tiny and
gemma2-tiny: a JumpReLU SAE at blocks.S.hook_resid_post, S = n_layers − 2 (so blocks lie on both sides of
the site: feature rows cross blocks 0 … S, logit rows blocks S+1 … L−1). The weights are random but
scaled to the model's own residual stream there (read from the reference forward on fixed token ids),
so that about a third of the features fire at a position: b_enc puts each feature's pre-activation
threshold at its 65th percentile over those positions. llama-tiny's SAE sets apply_b_dec_to_input (the
loader folds it into b_enc), the others do not.

Deterministic (fixed seed). Usage: /usr/bin/python3 tools/reference/make_sae_fixtures.py
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from forward_ref import load_config, run  # noqa: E402
from st_io import write_safetensors  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
MODELS = os.path.join(ROOT, 'test', 'fixtures', 'models')
OUT = os.path.join(ROOT, 'test', 'fixtures', 'saes')
F = 40
DT = torch.float64


def make(name, apply_b_dec, seed):
    model = os.path.join(MODELS, name)
    cfg = load_config(model)
    L = cfg.get('n_layer') or cfg['num_hidden_layers']
    d = cfg.get('n_embd') or cfg['hidden_size']
    vocab = cfg.get('vocab_size')
    site = L - 2
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab - 10, (24,), generator=g).tolist()
    resid = run(model, ids)[f'blocks.{site}.hook_resid_post'].to(DT)
    b_dec = resid.mean(0) * 0.5
    W_enc = torch.randn(d, F, generator=g, dtype=DT) / resid.std() / d ** 0.5
    W_dec = torch.randn(F, d, generator=g, dtype=DT)
    W_dec = W_dec / W_dec.norm(dim=1, keepdim=True) * resid.norm(dim=1).mean() * 0.3
    xin = resid - b_dec if apply_b_dec else resid
    pre = xin @ W_enc
    b_enc = -torch.quantile(pre, 0.65, dim=0)
    threshold = (pre + b_enc).std(0) * 0.05
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    write_safetensors(os.path.join(folder, 'sae_weights.safetensors'), {'W_enc': W_enc, 'W_dec': W_dec, 'b_enc': b_enc, 'b_dec': b_dec, 'threshold': threshold}, 'F32')
    with open(os.path.join(folder, 'cfg.json'), 'w') as f:
        json.dump({
            'architecture': 'jumprelu', 'd_in': d, 'd_sae': F, 'dtype': 'float32', 'device': 'cpu',
            'model_name': name, 'hook_name': f'blocks.{site}.hook_resid_post', 'hook_layer': site,
            'hook_head_index': None, 'activation_fn_str': 'relu', 'apply_b_dec_to_input': apply_b_dec,
            'finetuning_scaling_factor': False, 'normalize_activations': 'none', 'prepend_bos': True,
        }, f, indent=2)
        f.write('\n')
    print(f'{folder}: site {site}, d {d}, {F} features')


def main():
    make('llama-tiny', True, 20261201)
    make('gpt2-tiny', False, 20261202)
    make('gemma2-tiny', False, 20261203)


if __name__ == '__main__':
    main()

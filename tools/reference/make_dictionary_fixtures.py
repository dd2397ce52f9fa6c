#!/usr/bin/env python3
"""Small dictionaries in every format the loaders read, with expected outputs computed here by numpy.

Writes test/fixtures/dictionaries/:
  plt/             circuit-tracer transcoder set: config.yaml (transcoders as {id, layer, filepath}),
                   layer_{i}.safetensors with W_enc [F, d], W_dec [F, d], b_enc, b_dec, W_skip [d, d]
                   (torch layout: skip = x @ W_skipᵀ) and activation_function.threshold; features/ labels
  plt-transposed/  the same weights with W_enc [d, F] and W_dec [d, F], no config.yaml (bare folder)
  plt-topk/        config.yaml (plain path list) with activation topk, k 4, pointing at ../plt's layout
                   copied in (the loader never leaves a folder)
  clt/             circuit-tracer CLT: W_enc_{i}.safetensors (W_enc_i [F, d], b_enc_i, b_dec_i,
                   threshold_i), W_dec_{i}.safetensors (W_dec_i [F, L - i, d])
  gemma-scope/     layer_{i}/width_10/average_l0_3/params.npz written by numpy: W_enc [d, F], W_dec [F, d],
                   b_enc, b_dec, threshold; layer 0 float32 np.savez, layer 1 float16 np.savez_compressed,
                   layer 2 float64 np.savez
  saelens/         cfg.json (jumprelu, apply_b_dec_to_input true) + sae_weights.safetensors
                   (W_enc [d, F], W_dec [F, d], b_enc, b_dec, threshold with some negative entries)
  saelens-topk/    cfg.json (topk, k 3, apply_b_dec_to_input false) + weights
  npy/             single .npy files for the strict parser: good (C order <f4), fortran order, int32,
                   big-endian, version 2.0 header
  expected.json    per dictionary and layer: the input x [T, d], activations [T, F] and reconstruction
                   [T, d] computed here in float64 from the weights as stored.

Deterministic values (fixed seed); the .npz archives also carry zip timestamps. Usage: /usr/bin/python3 tools/reference/make_dictionary_fixtures.py
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from st_io import write_safetensors  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'dictionaries')

L, D, F, T = 3, 6, 10, 5
rng = np.random.default_rng(20261126)


def f32(a):
    return np.asarray(a, dtype=np.float32)


def st(path, tensors):
    write_safetensors(path, {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64)) for k, v in tensors.items()}, 'F32')


def jumprelu(pre, thr):
    return pre * (pre > thr)


def topk(pre, k, relu):
    out = np.zeros_like(pre)
    for t in range(pre.shape[0]):
        # Highest values first; ties by lower index (the loader's rule).
        idx = sorted(range(pre.shape[1]), key=lambda f: (-pre[t, f], f))[:k]
        out[t, idx] = pre[t, idx]
    return np.maximum(out, 0) if relu else out


def labels(folder, layer):
    os.makedirs(os.path.join(folder, 'features'), exist_ok=True)
    feats = [{'layer': layer, 'index': f, 'explanations': [{'description': f'feature {layer}/{f} <b>bold</b>'}],
              'activations': [{'tokens': ['a', 'b'], 'values': [0.5, float(f)]}],
              'pos_str': ['x'], 'pos_values': [1.5], 'neg_str': ['y'], 'neg_values': [-1.0],
              'frac_nonzero': 0.25} for f in range(F)]
    with open(os.path.join(folder, 'features', f'layer_{layer}.json'), 'w') as fh:
        json.dump(list(reversed(feats)), fh)


def main():
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    expected = {}
    xs = [f32(rng.normal(size=(T, D))) for _ in range(L)]

    # Per-layer transcoders (circuit-tracer layout), the transposed copy, and a TopK set.
    plt = []
    for l in range(L):
        w_enc = f32(rng.normal(size=(F, D)) / np.sqrt(D))
        b_enc = f32(0.1 * rng.normal(size=F))
        thr = f32(np.abs(0.2 * rng.normal(size=F)))
        w_dec = f32(rng.normal(size=(F, D)) * 0.3)
        b_dec = f32(0.05 * rng.normal(size=D))
        w_skip = f32(0.1 * rng.normal(size=(D, D)))
        plt.append(dict(W_enc=w_enc, W_dec=w_dec, b_enc=b_enc, b_dec=b_dec, W_skip=w_skip, thr=thr))
    for name in ['plt', 'plt-transposed', 'plt-topk']:
        os.makedirs(os.path.join(OUT, name))
    entries = []
    for l, p in enumerate(plt):
        st(os.path.join(OUT, 'plt', f'layer_{l}.safetensors'),
           {'W_enc': p['W_enc'], 'W_dec': p['W_dec'], 'b_enc': p['b_enc'], 'b_dec': p['b_dec'], 'W_skip': p['W_skip'],
            'activation_function.threshold': p['thr']})
        st(os.path.join(OUT, 'plt-transposed', f'layer_{l}.safetensors'),
           {'W_enc': p['W_enc'].T, 'W_dec': p['W_dec'].T, 'b_enc': p['b_enc'], 'b_dec': p['b_dec'], 'W_skip': p['W_skip'],
            'activation_function.threshold': p['thr']})
        os.makedirs(os.path.join(OUT, 'plt-topk', 'weights'), exist_ok=True)
        st(os.path.join(OUT, 'plt-topk', 'weights', f'tc_{l}.safetensors'),
           {'W_enc': p['W_enc'], 'W_dec': p['W_dec'], 'b_enc': p['b_enc'], 'b_dec': p['b_dec']})
        entries.append({'id': f'layer_{l}', 'layer': l, 'filepath': f'layer_{l}.safetensors'})
        labels(os.path.join(OUT, 'plt'), l)
    with open(os.path.join(OUT, 'plt', 'config.yaml'), 'w') as fh:
        yaml.safe_dump({'model_name': 'fixture-model', 'model_kind': 'transcoder_set',
                        'feature_input_hook': 'ln2.hook_normalized', 'feature_output_hook': 'hook_mlp_out',
                        'scan': 'fixture-plt', 'transcoders': entries}, fh, sort_keys=False)
    with open(os.path.join(OUT, 'plt-topk', 'config.yaml'), 'w') as fh:
        yaml.safe_dump({'model_name': 'fixture-model', 'model_kind': 'transcoder_set',
                        'feature_input_hook': 'mlp.hook_in', 'feature_output_hook': 'mlp.hook_out',
                        'activation': 'topk', 'k': 4,
                        'transcoders': [f'weights/tc_{l}.safetensors' for l in range(L)]}, fh, sort_keys=False)
    x64 = [x.astype(np.float64) for x in xs]
    e_plt, e_topk = [], []
    for l, p in enumerate(plt):
        P = {k: v.astype(np.float64) for k, v in p.items()}
        pre = x64[l] @ P['W_enc'].T + P['b_enc']
        acts = jumprelu(pre, P['thr'])
        rec = acts @ P['W_dec'] + P['b_dec'] + x64[l] @ P['W_skip'].T
        e_plt.append({'layer': l, 'x': xs[l].tolist(), 'acts': acts.tolist(), 'recon': rec.tolist()})
        acts_k = topk(pre, 4, False)
        e_topk.append({'layer': l, 'x': xs[l].tolist(), 'acts': acts_k.tolist(), 'recon': (acts_k @ P['W_dec'] + P['b_dec']).tolist()})
    expected['plt'] = e_plt
    expected['plt-topk'] = e_topk

    # Cross-layer transcoder.
    os.makedirs(os.path.join(OUT, 'clt'))
    clt = []
    for i in range(L):
        c = dict(W_enc=f32(rng.normal(size=(F, D)) / np.sqrt(D)), b_enc=f32(0.1 * rng.normal(size=F)),
                 b_dec=f32(0.05 * rng.normal(size=D)), thr=f32(np.abs(0.2 * rng.normal(size=F))),
                 W_dec=f32(rng.normal(size=(F, L - i, D)) * 0.3))
        clt.append(c)
        st(os.path.join(OUT, 'clt', f'W_enc_{i}.safetensors'),
           {f'W_enc_{i}': c['W_enc'], f'b_enc_{i}': c['b_enc'], f'b_dec_{i}': c['b_dec'], f'threshold_{i}': c['thr']})
        st(os.path.join(OUT, 'clt', f'W_dec_{i}.safetensors'), {f'W_dec_{i}': c['W_dec']})
    with open(os.path.join(OUT, 'clt', 'config.yaml'), 'w') as fh:
        yaml.safe_dump({'model_name': 'fixture-model', 'model_kind': 'cross_layer_transcoder',
                        'feature_input_hook': 'hook_resid_mid', 'feature_output_hook': 'hook_mlp_out'}, fh, sort_keys=False)
    acts = []
    for i, c in enumerate(clt):
        pre = x64[i] @ c['W_enc'].astype(np.float64).T + c['b_enc']
        acts.append(jumprelu(pre, c['thr'].astype(np.float64)))
    e_clt = []
    for j in range(L):
        rec = np.tile(clt[j]['b_dec'].astype(np.float64), (T, 1))
        for i in range(j + 1):
            rec = rec + acts[i] @ clt[i]['W_dec'][:, j - i, :].astype(np.float64)
        e_clt.append({'layer': j, 'x': xs[j].tolist(), 'acts': acts[j].tolist(), 'recon': rec.tolist()})
    expected['clt'] = e_clt

    # Gemma Scope params.npz, written by numpy in three dtypes / two zip methods.
    e_gs = []
    for l, (dtype, save) in enumerate([(np.float32, np.savez), (np.float16, np.savez_compressed), (np.float64, np.savez)]):
        folder = os.path.join(OUT, 'gemma-scope', f'layer_{l}', 'width_10', 'average_l0_3')
        os.makedirs(folder)
        w_enc = (rng.normal(size=(D, F)) / np.sqrt(D)).astype(dtype)
        b_enc = (0.1 * rng.normal(size=F)).astype(dtype)
        w_dec = (rng.normal(size=(F, D)) * 0.3).astype(dtype)
        b_dec = (0.05 * rng.normal(size=D)).astype(dtype)
        thr = np.abs(0.2 * rng.normal(size=F)).astype(dtype)
        save(os.path.join(folder, 'params.npz'), W_enc=w_enc, W_dec=w_dec, b_enc=b_enc, b_dec=b_dec, threshold=thr)
        # Expected values from the stored precision, as the loader widens it to float32.
        g = {k: v.astype(np.float32).astype(np.float64) for k, v in dict(W_enc=w_enc, W_dec=w_dec, b_enc=b_enc, b_dec=b_dec, thr=thr).items()}
        pre = x64[l] @ g['W_enc'] + g['b_enc']
        a = jumprelu(pre, g['thr'])
        e_gs.append({'layer': l, 'x': xs[l].tolist(), 'acts': a.tolist(), 'recon': (a @ g['W_dec'] + g['b_dec']).tolist()})
    expected['gemma-scope'] = e_gs

    # SAELens SAEs at layer 1's residual stream.
    for name, arch, extra in [('saelens', 'jumprelu', {'apply_b_dec_to_input': True}),
                              ('saelens-topk', 'topk', {'apply_b_dec_to_input': False, 'k': 3})]:
        folder = os.path.join(OUT, name)
        os.makedirs(folder)
        w_enc = f32(rng.normal(size=(D, F)) / np.sqrt(D))
        b_enc = f32(0.1 * rng.normal(size=F))
        w_dec = f32(rng.normal(size=(F, D)) * 0.3)
        b_dec = f32(0.3 * rng.normal(size=D))
        thr = f32(0.2 * rng.normal(size=F))  # some negative: SAELens computes relu(h) * (h > t)
        tensors = {'W_enc': w_enc, 'W_dec': w_dec, 'b_enc': b_enc, 'b_dec': b_dec}
        if arch == 'jumprelu':
            tensors['threshold'] = thr
        st(os.path.join(folder, 'sae_weights.safetensors'), tensors)
        cfg = {'architecture': arch, 'd_in': D, 'd_sae': F, 'dtype': 'float32', 'model_name': 'fixture-model',
               'hook_name': 'blocks.1.hook_resid_post', 'hook_layer': 1, 'hook_head_index': None,
               'normalize_activations': 'none', 'neuronpedia_id': f'fixture-model/1-{name}'}
        cfg.update(extra)
        with open(os.path.join(folder, 'cfg.json'), 'w') as fh:
            json.dump(cfg, fh, indent=2)
        G = {k: v.astype(np.float64) for k, v in tensors.items()}
        x_in = x64[1] - (G['b_dec'] if extra['apply_b_dec_to_input'] else 0)
        pre = x_in @ G['W_enc'] + G['b_enc']
        if arch == 'jumprelu':
            a = np.maximum(pre, 0) * (pre > thr.astype(np.float64))
        else:
            a = topk(pre, 3, True)
        expected[name] = [{'layer': 1, 'x': xs[1].tolist(), 'acts': a.tolist(), 'recon': (a @ G['W_dec'] + G['b_dec']).tolist()}]

    # Single .npy files for the strict parser.
    npy = os.path.join(OUT, 'npy')
    os.makedirs(npy)
    good = f32(np.arange(6).reshape(2, 3))
    np.save(os.path.join(npy, 'good.npy'), good)
    np.save(os.path.join(npy, 'fortran.npy'), np.asfortranarray(good))
    np.save(os.path.join(npy, 'int32.npy'), np.arange(6, dtype=np.int32))
    np.save(os.path.join(npy, 'bigendian.npy'), good.astype('>f4'))
    np.save(os.path.join(npy, 'scalar.npy'), np.float32(2.5))
    with open(os.path.join(npy, 'v2.npy'), 'wb') as fh:
        np.lib.format.write_array(fh, good, version=(2, 0))

    with open(os.path.join(OUT, 'expected.json'), 'w') as fh:
        json.dump(expected, fh)
    print('wrote', OUT)


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""Random-weight transcoder sets for the random-weight model fixtures, for the attribution tests.

Per-layer transcoders are written in circuit-tracer's layout (config.yaml + layer_{i}.safetensors with
W_enc [F, d], W_dec [F, d], b_enc [F], b_dec [d], optional W_skip [d, d] and, for JumpReLU,
activation_function.threshold [F]); the cross-layer transcoder in circuit-tracer's CLT layout
(W_enc_{i}.safetensors with W_enc_{i} [F, d], b_enc_{i}, b_dec_{i}, threshold_{i};
W_dec_{i}.safetensors with W_dec_{i} [F, L - i, d]).

Thresholds are set from the model's own activations on a calibration sequence (a quantile of each
feature's pre-activation), so that a useful fraction of features fires on any prompt: random weights
with a fixed threshold would leave every feature on or off depending on the input scale.

Deterministic (fixed seeds): rerunning rewrites identical files.

Usage: make_transcoder_fixtures.py [--out test/fixtures/transcoders]
       make_transcoder_fixtures.py --bench-model DIR [--d 128 --layers 4 --features 1024 --ctx 4096]
The second form writes a random-weight Llama of modest width (the llama-tiny fixture's tokenizer) with
JumpReLU transcoders in DIR/transcoders, for the attribution bench (long prompts, peak memory).
"""
import argparse
import os
import sys
from collections import OrderedDict

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from forward_ref import run  # noqa: E402
from st_io import write_safetensors  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
MODELS = os.path.join(ROOT, 'test', 'fixtures', 'models')

# name: (model folder, input hook, activation, skip, kind)
SETS = {
    'llama-tiny': ('llama-tiny', 'hook_resid_mid', 'jumprelu', True, 'plt'),
    'gpt2-tiny': ('gpt2-tiny', 'ln2.hook_normalized', 'relu', False, 'plt'),
    'gemma2-tiny': ('gemma2-tiny', 'ln2.hook_normalized', 'jumprelu', False, 'plt'),
    'qwen3-tiny': ('qwen3-tiny', 'hook_resid_mid', 'jumprelu', False, 'plt'),
    'llama-tiny-clt': ('llama-tiny', 'hook_resid_mid', 'jumprelu', False, 'clt'),
}
N_FEATURES = 24
FIRING_FRACTION = 0.35


def calibration_inputs(model_dir, in_hook, vocab, n_layers):
    g = torch.Generator().manual_seed(1234)
    ids = torch.randint(0, vocab, (40,), generator=g).tolist()
    hooks = run(model_dir, ids)
    key = 'hook_resid_mid' if in_hook == 'hook_resid_mid' else 'ln2.hook_normalized'
    return [hooks[f'blocks.{l}.{key}'] for l in range(n_layers)]


def make(name, out_root):
    model, in_hook, act, skip, kind = SETS[name]
    model_dir = os.path.join(MODELS, model)
    import json
    with open(os.path.join(model_dir, 'config.json')) as f:
        cfg = json.load(f)
    d = cfg.get('hidden_size') or cfg['n_embd']
    L = cfg.get('num_hidden_layers') or cfg['n_layer']
    xs = calibration_inputs(model_dir, in_hook, cfg['vocab_size'], L)
    g = torch.Generator().manual_seed(sum(map(ord, name)))
    out = os.path.join(out_root, name)
    os.makedirs(out, exist_ok=True)
    F = N_FEATURES
    layers = []
    for l in range(L):
        x = xs[l].double()
        w_enc = torch.randn(F, d, generator=g, dtype=torch.float64) / x.pow(2).mean().sqrt() / d ** 0.5
        b_enc = 0.1 * torch.randn(F, generator=g, dtype=torch.float64)
        pre = x @ w_enc.T + b_enc
        # Each feature fires on about FIRING_FRACTION of the calibration positions.
        threshold = torch.quantile(pre, 1 - FIRING_FRACTION, dim=0)
        if act == 'relu':
            b_enc = b_enc - threshold  # ReLU fires where pre > 0: shift so the same fraction fires
        span = L - l if kind == 'clt' else 1
        w_dec = torch.randn(F, span, d, generator=g, dtype=torch.float64) * 0.3 / d ** 0.5
        b_dec = 0.05 * torch.randn(d, generator=g, dtype=torch.float64)
        t = OrderedDict()
        t['W_enc'] = w_enc
        t['b_enc'] = b_enc
        t['W_dec'] = w_dec[:, 0, :] if kind == 'plt' else w_dec
        t['b_dec'] = b_dec
        if act == 'jumprelu':
            t['activation_function.threshold'] = threshold.clamp(min=1e-3)
        if skip:
            t['W_skip'] = 0.2 * torch.randn(d, d, generator=g, dtype=torch.float64) / d ** 0.5
        layers.append(t)
    if kind == 'plt':
        lines = [f'model_name: "{model}"', f'feature_input_hook: "{in_hook}"', 'feature_output_hook: "hook_mlp_out"',
                 'transcoders:']
        for l, t in enumerate(layers):
            write_safetensors(os.path.join(out, f'layer_{l}.safetensors'), t, 'F32')
            lines += [f'  - id: "{name}-{l}"', f'    layer: {l}', f'    filepath: "layer_{l}.safetensors"']
        with open(os.path.join(out, 'config.yaml'), 'w') as f:
            f.write('# Random-weight transcoders for tests (tools/reference/make_transcoder_fixtures.py)\n')
            f.write('\n'.join(lines) + '\n')
    else:
        for l, t in enumerate(layers):
            enc = OrderedDict([(f'W_enc_{l}', t['W_enc']), (f'b_enc_{l}', t['b_enc']), (f'b_dec_{l}', t['b_dec']),
                               (f'threshold_{l}', t['activation_function.threshold'])])
            write_safetensors(os.path.join(out, f'W_enc_{l}.safetensors'), enc, 'F32')
            write_safetensors(os.path.join(out, f'W_dec_{l}.safetensors'), OrderedDict([(f'W_dec_{l}', t['W_dec'])]), 'F32')
        with open(os.path.join(out, 'config.yaml'), 'w') as f:
            f.write('# Random-weight cross-layer transcoder for tests (tools/reference/make_transcoder_fixtures.py)\n')
            f.write(f'model_name: "{model}"\nfeature_input_hook: "{in_hook}"\nfeature_output_hook: "hook_mlp_out"\n'
                    f'transcoder_type: "cross_layer"\n')
    print(f'{name}: {L} layers x {F} features, input {in_hook}, {act}{", skip" if skip else ""}, {kind}')


def make_bench_model(out, d, L, F, ctx, firing=0.015):
    import json
    import shutil
    src = os.path.join(MODELS, 'llama-tiny')
    os.makedirs(os.path.join(out, 'transcoders'), exist_ok=True)
    for f in ('tokenizer.json', 'tokenizer_config.json'):
        shutil.copy(os.path.join(src, f), os.path.join(out, f))
    with open(os.path.join(src, 'config.json')) as f:
        cfg = json.load(f)
    H, Hkv = 4, 2
    hd = d // H
    cfg.update(hidden_size=d, intermediate_size=4 * d, num_hidden_layers=L, num_attention_heads=H,
               num_key_value_heads=Hkv, head_dim=hd, max_position_embeddings=ctx, rope_theta=10000.0,
               rope_scaling=None)
    V = cfg['vocab_size']
    g = torch.Generator().manual_seed(7)
    rn = lambda *shape, std=0.02: torch.randn(*shape, generator=g, dtype=torch.float64) * std  # noqa: E731
    t = OrderedDict()
    t['model.embed_tokens.weight'] = rn(V, d, std=1.0)
    for l in range(L):
        p = f'model.layers.{l}.'
        t[p + 'input_layernorm.weight'] = 1 + rn(d, std=0.1)
        t[p + 'post_attention_layernorm.weight'] = 1 + rn(d, std=0.1)
        t[p + 'self_attn.q_proj.weight'] = rn(H * hd, d, std=d ** -0.5)
        t[p + 'self_attn.k_proj.weight'] = rn(Hkv * hd, d, std=d ** -0.5)
        t[p + 'self_attn.v_proj.weight'] = rn(Hkv * hd, d, std=d ** -0.5)
        t[p + 'self_attn.o_proj.weight'] = rn(d, H * hd, std=(H * hd) ** -0.5)
        t[p + 'mlp.gate_proj.weight'] = rn(4 * d, d, std=d ** -0.5)
        t[p + 'mlp.up_proj.weight'] = rn(4 * d, d, std=d ** -0.5)
        t[p + 'mlp.down_proj.weight'] = rn(d, 4 * d, std=(4 * d) ** -0.5)
    t['model.norm.weight'] = 1 + rn(d, std=0.1)
    t['lm_head.weight'] = rn(V, d, std=d ** -0.5)
    write_safetensors(os.path.join(out, 'model.safetensors'), t, 'F32')
    with open(os.path.join(out, 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2)
    xs = calibration_inputs(out, 'hook_resid_mid', V, L)
    lines = ['model_name: "bench-llama"', 'feature_input_hook: "hook_resid_mid"', 'feature_output_hook: "hook_mlp_out"', 'transcoders:']
    for l in range(L):
        x = xs[l]
        w_enc = rn(F, d, std=1.0) / x.pow(2).mean().sqrt() / d ** 0.5
        b_enc = rn(F, std=0.1)
        thr = torch.quantile(x @ w_enc.T + b_enc, 1 - firing, dim=0).clamp(min=1e-3)
        tc = OrderedDict([('W_enc', w_enc), ('b_enc', b_enc), ('W_dec', rn(F, d, std=0.3 / d ** 0.5)), ('b_dec', rn(d, std=0.05)),
                          ('activation_function.threshold', thr)])
        write_safetensors(os.path.join(out, 'transcoders', f'layer_{l}.safetensors'), tc, 'F32')
        lines += [f'  - id: "bench-{l}"', f'    layer: {l}', f'    filepath: "layer_{l}.safetensors"']
    with open(os.path.join(out, 'transcoders', 'config.yaml'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'bench model: d {d}, {L} layers, {F} features per layer, context {ctx} -> {out}')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default=os.path.join(ROOT, 'test', 'fixtures', 'transcoders'))
    ap.add_argument('--bench-model', help='write the bench model here instead of the fixtures')
    ap.add_argument('--d', type=int, default=128)
    ap.add_argument('--layers', type=int, default=4)
    ap.add_argument('--features', type=int, default=1024)
    ap.add_argument('--ctx', type=int, default=4096)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.bench_model:
        make_bench_model(args.bench_model, args.d, args.layers, args.features, args.ctx)
        return
    for name in SETS:
        make(name, args.out)


if __name__ == '__main__':
    main()

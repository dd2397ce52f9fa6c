#!/usr/bin/env python3
"""Holds the engine and the reference to Hugging Face `transformers` on random-weight models of every
supported family (GPT-2, Llama, Gemma-2, Qwen3).

Three forwards are compared: `transformers` (the ground truth, eager attention, float32, TF32 off),
tools/reference/forward_ref.py (the independent reference the unit tests use) and the TypeScript
engine (tools/reference/engine_forward.ts, through node + tsx).

  python3 tools/reference/check_hf.py                       # all three, on one machine
  python3 tools/reference/check_hf.py --export DIR          # transformers side only: models + outputs
  python3 tools/reference/check_hf.py --compare DIR         # reference and engine against an export
      [--device cuda|cpu] [--provider cpu|cuda|auto] [--only gpt2-tiny,...] [--no-engine] [--seq 16]

--export needs torch + transformers (>= 4.51 for Qwen3; 4.x and 5.x both work) and no node;
--compare needs no transformers. So a GPU box with transformers but no node can export, and the
development machine compares. Nothing touches the network (HF_HUB_OFFLINE is set first).

For each fixture in test/fixtures/models two models are checked:
  <name>-fixture   the fixture folder itself, loaded by transformers' from_pretrained, so the unit
                   tests' fixtures and reference are held to transformers' numbers;
  <name>-hf-saved  a fresh model transformers builds from the fixture's config, weights re-drawn at
                   O(1) scales (its own init, std 0.02, makes attention uniform and hides mistakes),
                   written by save_pretrained: transformers' own tensor names and config format
                   (GPT-2's `transformer.` prefix; transformers 5's `rope_parameters`), with the
                   fixture's tokenizer files beside it.
transformers' tensors are captured with forward hooks on each decoder layer (its input and output:
blocks.{l}.hook_resid_pre / hook_resid_post) plus output_attentions (blocks.{l}.attn.hook_pattern)
and the logits. Each is compared with max |a - b| <= 1e-4 * max(1, max |transformers|); one JSON line
per model is printed and the exit code is non-zero if anything is off.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import OrderedDict

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('HF_DATASETS_OFFLINE', '1')

import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, HERE)
import forward_ref  # noqa: E402
from st_io import read_safetensors, write_safetensors  # noqa: E402

FIXTURES = os.path.join(ROOT, 'test', 'fixtures', 'models')
TOL = 1e-4
# Not *.safetensors: it sits in the saved model's folder, where loaders read every *.safetensors file.
HF_OUT = 'transformers-outputs.st'


# ---------------------------------------------------------------------------------------------------
# transformers side

def _from_pretrained(cls, path, **kw):
    try:
        return cls.from_pretrained(path, dtype=torch.float32, **kw)  # transformers 5
    except TypeError:
        return cls.from_pretrained(path, torch_dtype=torch.float32, **kw)


def decoder_layers(model):
    base = getattr(model, model.base_model_prefix)
    return base.h if hasattr(base, 'h') else base.layers


def hf_forward(model, ids, device):
    """logits, each decoder layer's input and output, attention patterns (batch axis dropped)."""
    layers = decoder_layers(model)
    out = OrderedDict()
    handles = []
    for l, layer in enumerate(layers):
        def pre(_m, args, kwargs, l=l):
            x = args[0] if args else kwargs['hidden_states']
            out[f'blocks.{l}.hook_resid_pre'] = x[0].detach().double().cpu()

        def post(_m, _args, output, l=l):
            y = output[0] if isinstance(output, (tuple, list)) else output
            out[f'blocks.{l}.hook_resid_post'] = y[0].detach().double().cpu()
        handles.append(layer.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(layer.register_forward_hook(post))
    try:
        with torch.no_grad():
            res = model(torch.tensor([ids], device=device), output_attentions=True, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    for l, a in enumerate(res.attentions):
        out[f'blocks.{l}.attn.hook_pattern'] = a[0].double().cpu()
    out['logits'] = res.logits[0].double().cpu()
    return out


def redraw_weights(model, model_type, seed):
    """O(1)-scale random weights: norm gains 1 + 0.1 N (Gemma stores the 0.1 N part), biases 0.05 N,
    embeddings 0.3 N, projections N * 1.2 / sqrt(fan_in) (queries and keys x1.6 for peaked attention)."""
    g = torch.Generator().manual_seed(seed)
    gemma = model_type == 'gemma2'
    with torch.no_grad():
        for name, p in model.named_parameters():
            n = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if p.ndim == 1:
                if name.endswith('weight'):
                    p.copy_(0.1 * n if gemma else 1.0 + 0.1 * n)
                else:
                    p.copy_(0.05 * n)
            elif 'wpe' in name:
                p.copy_(0.1 * n)
            elif 'wte' in name or 'embed_tokens' in name or 'lm_head' in name:
                p.copy_(0.3 * n)
            else:
                fan_in = p.shape[0] if model_type == 'gpt2' else p.shape[1]  # Conv1D is [in, out]
                std = 1.2 / fan_in ** 0.5
                if any(s in name for s in ('q_proj', 'k_proj', 'c_attn')):
                    std *= 1.6
                p.copy_(std * n)


def export(args, names, work):
    from transformers import AutoConfig, AutoModelForCausalLM
    import transformers
    print(f'# transformers {transformers.__version__}, torch {torch.__version__}, on {args.device}')
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ok = True
    for i, name in enumerate(names):
        try:
            export_one(args, work, i, name, AutoConfig, AutoModelForCausalLM)
        except Exception:  # noqa: BLE001 — one family's failure must not hide the others
            import traceback
            traceback.print_exc()
            print(f'# export of {name} FAILED')
            ok = False
    return ok


def export_one(args, work, i, name, AutoConfig, AutoModelForCausalLM):
    fdir = os.path.join(FIXTURES, name)
    with open(os.path.join(fdir, 'config.json')) as f:
        cfg = json.load(f)
    with open(os.path.join(fdir, 'tokenizer.json')) as f:
        n_tok = len(json.load(f)['model']['vocab'])
    g = torch.Generator().manual_seed(100 + i)
    ids = torch.randint(0, min(n_tok, cfg['vocab_size']), (args.seq,), generator=g).tolist()

    # 1. the fixture as it is.
    d = os.path.join(work, f'{name}-fixture')
    os.makedirs(d, exist_ok=True)
    model = _from_pretrained(AutoModelForCausalLM, fdir, attn_implementation='eager').to(args.device).eval()
    write_safetensors(os.path.join(d, HF_OUT), hf_forward(model, ids, args.device))
    with open(os.path.join(d, 'check.json'), 'w') as f:
        json.dump({'model': os.path.relpath(fdir, ROOT), 'ids': ids}, f)

    # 2. a fresh model saved by transformers.
    d = os.path.join(work, f'{name}-hf-saved')
    config = AutoConfig.from_pretrained(fdir)
    torch.manual_seed(200 + i)
    model = AutoModelForCausalLM.from_config(config, attn_implementation='eager')
    model = model.to(torch.float32)
    redraw_weights(model, cfg['model_type'], 200 + i)
    model = model.to(args.device).eval()
    try:
        model.save_pretrained(d, safe_serialization=True)
    except TypeError:
        model.save_pretrained(d)
    for t in ('tokenizer.json', 'tokenizer_config.json'):
        shutil.copy(os.path.join(fdir, t), d)
    write_safetensors(os.path.join(d, HF_OUT), hf_forward(model, ids, args.device))
    with open(os.path.join(d, 'check.json'), 'w') as f:
        json.dump({'model': '.', 'ids': ids}, f)
    print(f'# exported {name}: {sorted(os.listdir(d))}')


# ---------------------------------------------------------------------------------------------------
# reference and engine against the export

def engine_forward(model_dir, ids, provider, scratch):
    out = os.path.join(scratch, 'engine.safetensors')
    cmd = ['node', '--import', 'tsx', os.path.join(HERE, 'engine_forward.ts'), '--model', model_dir,
           '--ids', ','.join(map(str, ids)), '--out', out, '--provider', provider]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f'exit {r.returncode}')
    return read_safetensors(out)


def worst(a_map, b_map, keys=None):
    """max over keys of max|a-b| / max(1, max|a|), and the key where it happens."""
    best = (0.0, None)
    for k in keys or a_map:
        if k not in b_map:
            return float('inf'), f'{k} missing'
        a, b = a_map[k], b_map[k]
        if list(a.shape) != list(b.shape):
            return float('inf'), f'{k} shape {list(b.shape)} != {list(a.shape)}'
        e = (a.double() - b.double()).abs().max().item() / max(1.0, a.abs().max().item())
        if e > best[0]:
            best = (e, k)
    return best


def compare(args, names, work):
    ok_all = True
    scratch = tempfile.mkdtemp(prefix='check-hf-engine-')
    for name in names:
        for kind in ('fixture', 'hf-saved'):
            d = os.path.join(work, f'{name}-{kind}')
            if not os.path.exists(os.path.join(d, 'check.json')):
                continue
            with open(os.path.join(d, 'check.json')) as f:
                meta = json.load(f)
            model_dir = os.path.join(ROOT, meta['model']) if meta['model'] != '.' else d
            ids = meta['ids']
            hf = read_safetensors(os.path.join(d, HF_OUT))
            row = OrderedDict(model=f'{name}-{kind}', T=len(ids))
            try:
                ref = forward_ref.run(model_dir, ids)
                e, k = worst(hf, ref)
                row['hf_vs_ref'] = e
                row['hf_vs_ref_worst'] = k
                row['hf_vs_ref_logits_maxabs'] = (hf['logits'] - ref['logits']).abs().max().item()
                ok = e <= TOL
            except Exception as ex:  # noqa: BLE001 — report and go on to the next model
                row['ref_error'] = str(ex)
                ok = False
            if not args.no_engine:
                try:
                    eng = engine_forward(model_dir, ids, args.provider, scratch)
                    e, k = worst(hf, eng)
                    row['hf_vs_engine'] = e
                    row['hf_vs_engine_worst'] = k
                    row['hf_vs_engine_logits_maxabs'] = (hf['logits'] - eng['logits']).abs().max().item()
                    ok = ok and e <= TOL
                    if 'ref_error' not in row:
                        e, k = worst(ref, eng)
                        row['ref_vs_engine_all_hooks'] = e
                        row['ref_vs_engine_worst'] = k
                        ok = ok and e <= TOL
                except Exception as ex:  # noqa: BLE001
                    row['engine_error'] = str(ex)
                    ok = False
            row['ok'] = ok
            ok_all &= ok
            print(json.dumps(row))
    shutil.rmtree(scratch, ignore_errors=True)
    return ok_all


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--export', metavar='DIR', help='only run transformers; write models and outputs to DIR')
    ap.add_argument('--compare', metavar='DIR', help='only compare the reference and the engine with DIR')
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                    help='where transformers runs (float32, TF32 off)')
    ap.add_argument('--provider', default='cpu', help="the engine's execution provider")
    ap.add_argument('--only', help='comma-separated fixture names')
    ap.add_argument('--no-engine', action='store_true', help='compare transformers with the reference only')
    ap.add_argument('--seq', type=int, default=16, help='prompt length (random ids); > 4 so windows matter')
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))

    names = sorted(os.listdir(FIXTURES))
    if args.only:
        names = [n for n in names if n in args.only.split(',')]
    if args.export:
        os.makedirs(args.export, exist_ok=True)
        sys.exit(0 if export(args, names, args.export) else 1)
    if args.compare:
        ok = compare(args, names, args.compare)
    else:
        work = tempfile.mkdtemp(prefix='check-hf-')
        try:
            ok = export(args, names, work)
            ok = compare(args, names, work) and ok
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print('# all within tolerance' if ok else '# SOME DIFFERENCES EXCEED THE TOLERANCE (see the rows above)')
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()

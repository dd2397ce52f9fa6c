#!/usr/bin/env python3
"""Writes the random-weight test checkpoints in Hugging Face layout into test/fixtures/models/<name>/.

  /usr/bin/python3 tools/reference/make_fixtures.py [--out test/fixtures/models]

Deterministic (fixed seeds, torch's CPU generator): running it again rewrites the same bytes.
Each folder holds config.json, weights (*.safetensors; sharded with model.safetensors.index.json for
llama-tiny-tied), tokenizer.json and tokenizer_config.json.

Fixtures and what each one is there to exercise:
  gpt2-tiny        GPT-2: Conv1D [in,out] weights, learned positions, LayerNorm, gelu_new, tied lm_head,
                   original (unprefixed) tensor names; ByteLevel BPE tokenizer (string merges)
  llama-tiny       Llama-3: untied lm_head, GQA (4 heads / 2 kv heads), rope_theta 5e5, llama3
                   rope_scaling chosen so that all three frequency bands (kept, smoothed, divided) occur
  llama-tiny-tied  tied embeddings, multi-query attention (1 kv head), bf16 storage, 2 shards + index
  llama-tiny-f16   f16 storage, attention_bias (q/k/v/o biases), full multi-head attention
  gemma2-tiny      Gemma-2: (1+w) RMSNorm, pre+post norms, GeGLU (gelu_pytorch_tanh), sqrt(d) embedding
                   scale, attention and final logit soft-capping (small caps so they matter), sliding
                   window 4 on even layers, query_pre_attn_scalar != head_dim, head_dim != d/heads;
                   SentencePiece-style BPE with byte fallback
  qwen3-tiny       Qwen3: q_norm/k_norm, GQA, explicit head_dim != d/heads, no biases, vocab padded past
                   the tokenizer (304 rows, 300 tokens); Qwen2 regex splits digits one by one
  llama-tiny-hf5   config.json as transformers 5 writes it: `rope_parameters` (rope_type, rope_theta and
                   the llama3 scaling in one dict) instead of rope_theta + rope_scaling, `dtype` instead
                   of torch_dtype; tied embeddings

Weights are scaled so activations are O(1) and attention patterns are far from uniform; norm gains are
1 + 0.1 N(0,1) (Gemma stores the 0.1 N(0,1) part) so a norm that ignores its weight is caught.
"""
import argparse
import json
import os
import shutil
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_io import write_safetensors  # noqa: E402

# ---------------------------------------------------------------------------------------------------
# Tokenizers (Hugging Face tokenizer.json, written by hand)

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def bytes_to_unicode_order():
    """GPT-2's byte → printable character table, in GPT-2's vocabulary order (printable bytes first)."""
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def added_token(id_, content, special=True):
    return {'id': id_, 'content': content, 'single_word': False, 'lstrip': False, 'rstrip': False,
            'normalized': not special, 'special': special}


def bpe_vocab(base_tokens, merges):
    """Vocabulary: the base symbols, then one entry per merge result, in merge order."""
    vocab = OrderedDict()
    for t in base_tokens:
        vocab[t] = len(vocab)
    for a, b in merges:
        if a not in vocab or b not in vocab:
            raise ValueError(f'merge {a!r} {b!r} uses a symbol not in the vocabulary')
        if a + b in vocab:
            raise ValueError(f'merge result {a + b!r} already in the vocabulary')
        vocab[a + b] = len(vocab)
    return vocab


def bpe_model(vocab, merges, merges_as_strings, **extra):
    m = {'type': 'BPE', 'dropout': None, 'unk_token': None, 'continuing_subword_prefix': None,
         'end_of_word_suffix': None, 'fuse_unk': False, 'byte_fallback': False, 'ignore_merges': False}
    m.update(extra)
    m['vocab'] = vocab
    m['merges'] = [f'{a} {b}' for a, b in merges] if merges_as_strings else [[a, b] for a, b in merges]
    return m


def pad_merges(merges, target, base):
    """Fills the merge list up to `target` with merges of 'Ġ' + a digit/capital that the test prompts
    never produce, so the vocabulary reaches the size the config claims without changing their ids."""
    fill = [('Ġ', c) for c in 'BCDEFGHIJKLNOPQRUVWXYZ0123456789']
    out = list(merges)
    for pair in fill:
        if len(out) >= target:
            break
        if pair not in out and pair[0] in base and pair[1] in base:
            out.append(pair)
    if len(out) < target:
        raise ValueError('not enough filler merges')
    return out


def gpt2_tokenizer():
    """ByteLevel BPE as GPT-2's: 256 byte symbols, 43 merges, <|endoftext|> last (id 299)."""
    base = bytes_to_unicode_order()
    merges = [
        ('Ġ', 't'), ('h', 'e'), ('Ġt', 'he'), ('a', 't'), ('Ġ', 'c'), ('Ġc', 'at'), ('Ġ', 's'), ('Ġs', 'at'),
        ('Ġ', 'o'), ('Ġo', 'n'), ('T', 'he'), ('Ġ', 'm'),
        ('i', 'n'), ('Ġ', 'i'), ('Ġi', 's'), ('Ġi', 'n'), ('n', 'g'), ('in', 'g'), ('e', 'r'), ('Ġ', 'w'),
        ('Ġ', 'a'), ('Ġa', 'n'), ('Ġan', 'd'), ('Ġ', 'A'),
    ]
    merges = pad_merges(merges, 43, base)
    vocab = bpe_vocab(base, merges)
    eot = len(vocab)
    vocab['<|endoftext|>'] = eot
    tok = {
        'version': '1.0', 'truncation': None, 'padding': None,
        'added_tokens': [added_token(eot, '<|endoftext|>')],
        'normalizer': None,
        'pre_tokenizer': {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': True},
        'post_processor': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': False, 'use_regex': True},
        'decoder': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True, 'use_regex': True},
        'model': bpe_model(vocab, merges, True, continuing_subword_prefix='', end_of_word_suffix=''),
    }
    cfg = {'tokenizer_class': 'GPT2Tokenizer', 'bos_token': '<|endoftext|>', 'eos_token': '<|endoftext|>',
           'unk_token': '<|endoftext|>', 'add_prefix_space': False, 'model_max_length': 64,
           'clean_up_tokenization_spaces': False}
    return tok, cfg, len(vocab), {'bos': eot, 'eos': eot}


def llama3_tokenizer():
    """Llama-3 style: Split(regex) + ByteLevel, BPE with ignore_merges, <|begin_of_text|> prepended by
    a TemplateProcessing post-processor. 'Ġworld' is a whole-word vocabulary entry with no merge path,
    so only ignore_merges can produce it."""
    base = bytes_to_unicode_order()
    merges = [
        ('Ġ', 'c'), ('a', 'p'), ('Ġc', 'ap'), ('i', 't'), ('a', 'l'), ('Ġcap', 'it'), ('Ġcapit', 'al'),
        ('Ġ', 'o'), ('Ġo', 'f'), ('Ġ', 'i'), ('Ġi', 's'), ('T', 'h'), ('Th', 'e'), ('Ġ', 'T'), ('e', 'x'),
        ('ĠT', 'ex'), ('a', 's'), ('ĠTex', 'as'), ('Ġ', 'A'), ('u', 's'), ('ĠA', 'us'), ('i', 'n'),
        ('t', 'in'), ('ĠAus', 'tin'), ('1', '2'), ('12', '3'),
    ]
    merges = pad_merges(merges, 38, base)
    vocab = bpe_vocab(base, merges)
    vocab['Ġworld'] = len(vocab)
    bos = len(vocab)
    eos = bos + 1
    vocab['<|begin_of_text|>'] = bos
    vocab['<|end_of_text|>'] = eos
    tok = {
        'version': '1.0', 'truncation': None, 'padding': None,
        'added_tokens': [added_token(bos, '<|begin_of_text|>'), added_token(eos, '<|end_of_text|>')],
        'normalizer': None,
        'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
            {'type': 'Split', 'pattern': {'Regex': LLAMA3_PATTERN}, 'behavior': 'Isolated', 'invert': False},
            {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': False},
        ]},
        'post_processor': {'type': 'Sequence', 'processors': [
            {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': False, 'use_regex': True},
            {'type': 'TemplateProcessing',
             'single': [{'SpecialToken': {'id': '<|begin_of_text|>', 'type_id': 0}},
                        {'Sequence': {'id': 'A', 'type_id': 0}}],
             'pair': [{'SpecialToken': {'id': '<|begin_of_text|>', 'type_id': 0}},
                      {'Sequence': {'id': 'A', 'type_id': 0}},
                      {'SpecialToken': {'id': '<|begin_of_text|>', 'type_id': 1}},
                      {'Sequence': {'id': 'B', 'type_id': 1}}],
             'special_tokens': {'<|begin_of_text|>': {'id': '<|begin_of_text|>', 'ids': [bos],
                                                      'tokens': ['<|begin_of_text|>']}}},
        ]},
        'decoder': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True, 'use_regex': True},
        'model': bpe_model(vocab, merges, False, ignore_merges=True),
    }
    cfg = {'tokenizer_class': 'PreTrainedTokenizerFast', 'bos_token': '<|begin_of_text|>',
           'eos_token': '<|end_of_text|>', 'model_max_length': 64, 'clean_up_tokenization_spaces': True}
    return tok, cfg, len(vocab), {'bos': bos, 'eos': eos}


def gemma_tokenizer():
    """Gemma style (SentencePiece converted to BPE): ' ' → '▁' normaliser, no pre-tokenizer, byte
    fallback to <0xNN> tokens, <bos> prepended by TemplateProcessing."""
    specials = ['<pad>', '<eos>', '<bos>', '<unk>']
    byte_tokens = [f'<0x{b:02X}>' for b in range(256)]
    chars = list('▁abcdefghilmnoprstuvTAI.,')
    merges = [
        ('▁', 'c'), ('a', 't'), ('▁c', 'at'), ('▁', 's'), ('▁s', 'at'), ('T', 'h'), ('Th', 'e'),
        ('▁', 'o'), ('▁o', 'n'), ('▁', 't'), ('h', 'e'), ('▁t', 'he'), ('▁', 'm'),
        ('i', 'n'), ('▁', 'i'), ('▁i', 's'),
    ]
    vocab = bpe_vocab(specials + byte_tokens + chars, merges)
    n = len(vocab)
    tok = {
        'version': '1.0', 'truncation': None, 'padding': None,
        'added_tokens': [added_token(i, s) for i, s in enumerate(specials)],
        'normalizer': {'type': 'Replace', 'pattern': {'String': ' '}, 'content': '▁'},
        'pre_tokenizer': None,
        'post_processor': {
            'type': 'TemplateProcessing',
            'single': [{'SpecialToken': {'id': '<bos>', 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}}],
            'pair': [{'SpecialToken': {'id': '<bos>', 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}},
                     {'SpecialToken': {'id': '<bos>', 'type_id': 1}}, {'Sequence': {'id': 'B', 'type_id': 1}}],
            'special_tokens': {'<bos>': {'id': '<bos>', 'ids': [2], 'tokens': ['<bos>']}}},
        'decoder': {'type': 'Sequence', 'decoders': [
            {'type': 'Replace', 'pattern': {'String': '▁'}, 'content': ' '},
            {'type': 'ByteFallback'}, {'type': 'Fuse'}]},
        'model': bpe_model(vocab, merges, False, unk_token='<unk>', fuse_unk=True, byte_fallback=True),
    }
    cfg = {'tokenizer_class': 'GemmaTokenizer', 'bos_token': '<bos>', 'eos_token': '<eos>',
           'pad_token': '<pad>', 'unk_token': '<unk>', 'add_bos_token': True, 'add_eos_token': False,
           'model_max_length': 64, 'clean_up_tokenization_spaces': False}
    return tok, cfg, n, {'bos': 2, 'eos': 1, 'pad': 0}


def qwen2_tokenizer():
    """Qwen2/Qwen3 style: NFC, Split(regex with single digits) + ByteLevel, no BOS, three added tokens."""
    base = bytes_to_unicode_order()
    merges = [
        ('Ġ', 'c'), ('a', 't'), ('Ġc', 'at'), ('Ġ', 's'), ('Ġs', 'at'), ('T', 'h'), ('Th', 'e'),
        ('Ġ', 'o'), ('Ġo', 'n'), ('Ġ', 't'), ('h', 'e'), ('Ġt', 'he'), ('1', '2'),
    ]
    merges = pad_merges(merges, 41, base)
    vocab = bpe_vocab(base, merges)
    extra = ['<|endoftext|>', '<|im_start|>', '<|im_end|>']
    added = []
    for s in extra:
        added.append(added_token(len(vocab), s))
        vocab[s] = len(vocab)
    tok = {
        'version': '1.0', 'truncation': None, 'padding': None,
        'added_tokens': added,
        'normalizer': {'type': 'NFC'},
        'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
            {'type': 'Split', 'pattern': {'Regex': QWEN2_PATTERN}, 'behavior': 'Isolated', 'invert': False},
            {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': False, 'use_regex': False},
        ]},
        'post_processor': {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': False, 'use_regex': False},
        'decoder': {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': False, 'use_regex': False},
        'model': bpe_model(vocab, merges, False, continuing_subword_prefix='', end_of_word_suffix=''),
    }
    cfg = {'tokenizer_class': 'Qwen2Tokenizer', 'bos_token': None, 'eos_token': '<|im_end|>',
           'pad_token': '<|endoftext|>', 'model_max_length': 64, 'clean_up_tokenization_spaces': False}
    return tok, cfg, len(vocab), {'eos': vocab['<|im_end|>'], 'pad': vocab['<|endoftext|>']}


# ---------------------------------------------------------------------------------------------------
# Weights

class Rand:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def n(self, *shape, std=1.0):
        return torch.randn(*shape, generator=self.g, dtype=torch.float32) * std

    def gain(self, n):
        return 1.0 + self.n(n, std=0.1)


def gpt2_weights(r, cfg):
    d, V, P, L = cfg['n_embd'], cfg['vocab_size'], cfg['n_positions'], cfg['n_layer']
    f = cfg['n_inner'] or 4 * d
    w = OrderedDict()
    w['wte.weight'] = r.n(V, d, std=0.2)
    w['wpe.weight'] = r.n(P, d, std=0.1)
    for l in range(L):
        p = f'h.{l}.'
        w[p + 'ln_1.weight'] = r.gain(d)
        w[p + 'ln_1.bias'] = r.n(d, std=0.05)
        qkv = torch.cat([r.n(d, d, std=0.35), r.n(d, d, std=0.35), r.n(d, d, std=0.2)], dim=1)
        w[p + 'attn.c_attn.weight'] = qkv  # Conv1D: [in, out]
        w[p + 'attn.c_attn.bias'] = r.n(3 * d, std=0.05)
        w[p + 'attn.c_proj.weight'] = r.n(d, d, std=0.15)
        w[p + 'attn.c_proj.bias'] = r.n(d, std=0.05)
        w[p + 'ln_2.weight'] = r.gain(d)
        w[p + 'ln_2.bias'] = r.n(d, std=0.05)
        w[p + 'mlp.c_fc.weight'] = r.n(d, f, std=0.3)
        w[p + 'mlp.c_fc.bias'] = r.n(f, std=0.05)
        w[p + 'mlp.c_proj.weight'] = r.n(f, d, std=0.1)
        w[p + 'mlp.c_proj.bias'] = r.n(d, std=0.05)
    w['ln_f.weight'] = r.gain(d)
    w['ln_f.bias'] = r.n(d, std=0.05)
    return w


def llama_like_weights(r, cfg, family):
    d, V, L = cfg['hidden_size'], cfg['vocab_size'], cfg['num_hidden_layers']
    H, Hkv = cfg['num_attention_heads'], cfg['num_key_value_heads']
    hd = cfg.get('head_dim') or d // H
    f = cfg['intermediate_size']
    gemma = family == 'gemma2'
    bias = cfg.get('attention_bias', False)
    # Gemma stores the norm gain minus one.
    norm = (lambda n: r.n(n, std=0.1)) if gemma else r.gain
    qk_std = 0.3 if not gemma else 0.45
    w = OrderedDict()
    w['model.embed_tokens.weight'] = r.n(V, d, std=0.3 if gemma else 0.5)
    for l in range(L):
        p = f'model.layers.{l}.'
        w[p + 'input_layernorm.weight'] = norm(d)
        w[p + 'self_attn.q_proj.weight'] = r.n(H * hd, d, std=qk_std)  # nn.Linear: [out, in]
        w[p + 'self_attn.k_proj.weight'] = r.n(Hkv * hd, d, std=qk_std)
        w[p + 'self_attn.v_proj.weight'] = r.n(Hkv * hd, d, std=0.2)
        w[p + 'self_attn.o_proj.weight'] = r.n(d, H * hd, std=0.15)
        if bias:
            w[p + 'self_attn.q_proj.bias'] = r.n(H * hd, std=0.1)
            w[p + 'self_attn.k_proj.bias'] = r.n(Hkv * hd, std=0.1)
            w[p + 'self_attn.v_proj.bias'] = r.n(Hkv * hd, std=0.1)
            w[p + 'self_attn.o_proj.bias'] = r.n(d, std=0.05)
        if family == 'qwen3':
            w[p + 'self_attn.q_norm.weight'] = r.gain(hd)
            w[p + 'self_attn.k_norm.weight'] = r.gain(hd)
        if gemma:
            w[p + 'post_attention_layernorm.weight'] = norm(d)
            w[p + 'pre_feedforward_layernorm.weight'] = norm(d)
            w[p + 'post_feedforward_layernorm.weight'] = norm(d)
        else:
            w[p + 'post_attention_layernorm.weight'] = norm(d)
        w[p + 'mlp.gate_proj.weight'] = r.n(f, d, std=0.2)
        w[p + 'mlp.up_proj.weight'] = r.n(f, d, std=0.2)
        w[p + 'mlp.down_proj.weight'] = r.n(d, f, std=0.15)
    w['model.norm.weight'] = norm(d)
    if not cfg['tie_word_embeddings']:
        w['lm_head.weight'] = r.n(V, d, std=0.2)
    return w


# ---------------------------------------------------------------------------------------------------
# Configs

def gpt2_config(V, ids):
    return {
        'architectures': ['GPT2LMHeadModel'], 'model_type': 'gpt2', 'activation_function': 'gelu_new',
        'vocab_size': V, 'n_positions': 64, 'n_ctx': 64, 'n_embd': 32, 'n_layer': 2, 'n_head': 4,
        'n_inner': None, 'layer_norm_epsilon': 1e-5, 'resid_pdrop': 0.0, 'embd_pdrop': 0.0, 'attn_pdrop': 0.0,
        'initializer_range': 0.02, 'scale_attn_weights': True, 'tie_word_embeddings': True,
        'bos_token_id': ids['bos'], 'eos_token_id': ids['eos'], 'torch_dtype': 'float32',
    }


def llama_config(V, ids, **over):
    c = {
        'architectures': ['LlamaForCausalLM'], 'model_type': 'llama', 'hidden_act': 'silu',
        'vocab_size': V, 'hidden_size': 48, 'intermediate_size': 96, 'num_hidden_layers': 3,
        'num_attention_heads': 4, 'num_key_value_heads': 2, 'head_dim': 12, 'max_position_embeddings': 64,
        'rms_norm_eps': 1e-5, 'rope_theta': 500000.0,
        # original_max_position_embeddings 64 puts one rotary frequency of head_dim 12 in each regime:
        # wavelength 6.3 < 16 (kept), 56 in [16, 64] (smoothed), >= 498 > 64 (divided by 8).
        'rope_scaling': {'rope_type': 'llama3', 'factor': 8.0, 'low_freq_factor': 1.0, 'high_freq_factor': 4.0,
                         'original_max_position_embeddings': 64},
        'attention_bias': False, 'attention_dropout': 0.0, 'mlp_bias': False, 'pretraining_tp': 1,
        'initializer_range': 0.02, 'tie_word_embeddings': False, 'use_cache': True,
        'bos_token_id': ids['bos'], 'eos_token_id': ids['eos'], 'torch_dtype': 'float32',
    }
    c.update(over)
    return c


def to_transformers5_config(c):
    """The same config as transformers 5's save_pretrained writes it (seen with 5.17): rope_theta and
    rope_scaling folded into `rope_parameters`, torch_dtype renamed `dtype`."""
    c = dict(c)
    rp = {'rope_type': 'default'}
    rs = c.pop('rope_scaling', None)
    if rs:
        rp.update(rs)
    rp['rope_theta'] = c.pop('rope_theta')
    c['rope_parameters'] = dict(sorted(rp.items()))
    c['dtype'] = c.pop('torch_dtype')
    c['transformers_version'] = '5.17.0'
    return c


def gemma2_config(V, ids):
    return {
        'architectures': ['Gemma2ForCausalLM'], 'model_type': 'gemma2',
        'hidden_act': 'gelu_pytorch_tanh', 'hidden_activation': 'gelu_pytorch_tanh',
        'vocab_size': V, 'hidden_size': 32, 'intermediate_size': 64, 'num_hidden_layers': 3,
        'num_attention_heads': 4, 'num_key_value_heads': 2, 'head_dim': 16, 'query_pre_attn_scalar': 24,
        'max_position_embeddings': 64, 'rms_norm_eps': 1e-6, 'rope_theta': 10000.0,
        # Small caps so soft-capping changes the numbers (the real models use 50 and 30).
        'attn_logit_softcapping': 4.0, 'final_logit_softcapping': 3.0,
        'sliding_window': 4, 'cache_implementation': 'hybrid',
        'attention_bias': False, 'attention_dropout': 0.0, 'initializer_range': 0.02,
        'tie_word_embeddings': True, 'pad_token_id': ids['pad'], 'bos_token_id': ids['bos'],
        'eos_token_id': ids['eos'], 'torch_dtype': 'float32',
    }


def qwen3_config(V, ids):
    return {
        'architectures': ['Qwen3ForCausalLM'], 'model_type': 'qwen3', 'hidden_act': 'silu',
        'vocab_size': V, 'hidden_size': 32, 'intermediate_size': 64, 'num_hidden_layers': 2,
        'num_attention_heads': 4, 'num_key_value_heads': 2, 'head_dim': 16, 'max_position_embeddings': 64,
        'max_window_layers': 2, 'use_sliding_window': False, 'sliding_window': None,
        'rms_norm_eps': 1e-6, 'rope_theta': 1000000.0, 'rope_scaling': None, 'attention_bias': False,
        'attention_dropout': 0.0, 'initializer_range': 0.02, 'tie_word_embeddings': True,
        'bos_token_id': ids['pad'], 'eos_token_id': ids['eos'], 'torch_dtype': 'float32',
    }


# ---------------------------------------------------------------------------------------------------
# Writing

def write_json(path, obj):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write('\n')


def write_model(out, name, cfg, weights, tok, tok_cfg, dtype='F32', shards=1):
    d = os.path.join(out, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    write_json(os.path.join(d, 'config.json'), cfg)
    write_json(os.path.join(d, 'tokenizer.json'), tok)
    write_json(os.path.join(d, 'tokenizer_config.json'), tok_cfg)
    meta = {'format': 'pt'}
    if shards == 1:
        write_safetensors(os.path.join(d, 'model.safetensors'), weights, dtype, meta)
        return
    names = list(weights)
    per = (len(names) + shards - 1) // shards
    weight_map = OrderedDict()
    total = 0
    bytes_per = {'F32': 4, 'F16': 2, 'BF16': 2}[dtype]
    for s in range(shards):
        fname = f'model-{s + 1:05d}-of-{shards:05d}.safetensors'
        part = OrderedDict((k, weights[k]) for k in names[s * per:(s + 1) * per])
        write_safetensors(os.path.join(d, fname), part, dtype, meta)
        for k, t in part.items():
            weight_map[k] = fname
            total += t.numel() * bytes_per
    write_json(os.path.join(d, 'model.safetensors.index.json'), {'metadata': {'total_size': total}, 'weight_map': weight_map})


def main():
    ap = argparse.ArgumentParser(description='Write the random-weight fixtures.')
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument('--out', default=os.path.normpath(os.path.join(here, '..', '..', 'test', 'fixtures', 'models')))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    tok, tcfg, V, ids = gpt2_tokenizer()
    cfg = gpt2_config(V, ids)
    write_model(args.out, 'gpt2-tiny', cfg, gpt2_weights(Rand(1001), cfg), tok, tcfg)

    tok, tcfg, V, ids = llama3_tokenizer()
    cfg = llama_config(V, ids)
    write_model(args.out, 'llama-tiny', cfg, llama_like_weights(Rand(1002), cfg, 'llama'), tok, tcfg)

    cfg = llama_config(V, ids, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=1, head_dim=8, rope_theta=10000.0, rope_scaling=None,
                       tie_word_embeddings=True, torch_dtype='bfloat16')
    write_model(args.out, 'llama-tiny-tied', cfg, llama_like_weights(Rand(1003), cfg, 'llama'), tok, tcfg,
                dtype='BF16', shards=2)

    cfg = llama_config(V, ids, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=4, head_dim=8, rope_theta=10000.0, rope_scaling=None,
                       attention_bias=True, torch_dtype='float16')
    write_model(args.out, 'llama-tiny-f16', cfg, llama_like_weights(Rand(1004), cfg, 'llama'), tok, tcfg, dtype='F16')

    cfg = to_transformers5_config(llama_config(V, ids, intermediate_size=64, num_hidden_layers=2,
                                               tie_word_embeddings=True))
    write_model(args.out, 'llama-tiny-hf5', cfg, llama_like_weights(Rand(1007), cfg, 'llama'), tok, tcfg)

    tok, tcfg, V, ids = gemma_tokenizer()
    cfg = gemma2_config(V, ids)
    write_model(args.out, 'gemma2-tiny', cfg, llama_like_weights(Rand(1005), cfg, 'gemma2'), tok, tcfg)

    tok, tcfg, V, ids = qwen2_tokenizer()
    cfg = qwen3_config(V + 4, ids)  # padded embedding rows past the tokenizer, as Qwen's checkpoints have
    write_model(args.out, 'qwen3-tiny', cfg, llama_like_weights(Rand(1006), cfg, 'qwen3'), tok, tcfg)

    total = 0
    for root, _, files in os.walk(args.out):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    print(f'wrote fixtures to {args.out}: {total / 1e6:.2f} MB')


if __name__ == '__main__':
    main()

"""Shared helpers: configs, seeding, token batches, model I/O, held-out evaluation."""

import json
import os
import random
import time

import numpy as np
import torch

import language
import st_io
import tokenizer_io
from model import Llama


def load_config(path):
    with open(path) as f:
        return json.load(f)


def setup_torch(seed, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def world_and_vocab(cfg):
    w = language.World(cfg["seed"], cfg.get("language"))
    vocab = tokenizer_io.build_vocab(w.vocabulary())
    return w, vocab


def make_batch(w, vocab, rng, batch, ctx, with_latents=False):
    """[batch, ctx] ids, each row BOS + whole sentences (cut at ctx). Optionally the latents per token."""
    rows, lats = [], []
    for _ in range(batch):
        words, latents = language.sequence(w, rng, ctx - 1)
        rows.append([tokenizer_io.BOS] + [vocab[x] for x in words])
        lats.append([["bos"]] + latents)
    ids = torch.tensor(rows, dtype=torch.long)
    return (ids, lats) if with_latents else ids


def hf_config(cfg, vocab_size):
    m = cfg["model"]
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": m["d_model"],
        "intermediate_size": m["d_mlp"],
        "num_hidden_layers": m["n_layers"],
        "num_attention_heads": m["n_heads"],
        "num_key_value_heads": m["n_heads"],
        "head_dim": m["d_model"] // m["n_heads"],
        "max_position_embeddings": m["ctx"],
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "vocab_size": vocab_size,
        "tie_word_embeddings": False,
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "bos_token_id": tokenizer_io.BOS,
        "eos_token_id": tokenizer_io.EOS,
        "torch_dtype": "float32",
    }


def save_model(model, vocab, folder):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(model.cfg, f, indent=2)
    st_io.save({k: v for k, v in model.state_dict().items()}, os.path.join(folder, "model.safetensors"),
               metadata={"format": "pt"})
    tokenizer_io.write(folder, vocab, model.cfg["max_position_embeddings"])


def load_model(folder):
    with open(os.path.join(folder, "config.json")) as f:
        hf = json.load(f)
    model = Llama(hf)
    sd = {k: torch.from_numpy(v) for k, v in st_io.load(os.path.join(folder, "model.safetensors")).items()}
    model.load_state_dict(sd)
    model.eval()
    with open(os.path.join(folder, "tokenizer.json")) as f:
        vocab = json.load(f)["model"]["vocab"]
    return model, vocab


def encode_prompts(vocab, items):
    return [tokenizer_io.encode(vocab, it["prompt"]) for it in items]


@torch.no_grad()
def accuracy(model, vocab, items):
    """Top-1: argmax of the last position's logits equals the answer token (prompt encoded with BOS)."""
    if not items:
        return 0.0, []
    correct = []
    by_len = {}
    for i, ids in enumerate(encode_prompts(vocab, items)):
        by_len.setdefault(len(ids), []).append((i, ids))
    res = [False] * len(items)
    for n, group in by_len.items():
        ids = torch.tensor([g[1] for g in group], dtype=torch.long)
        logits = model(ids)[:, -1, :]
        pred = logits.argmax(-1).tolist()
        for (i, _), p in zip(group, pred):
            res[i] = p == vocab.get(items[i]["answer"], -1)
    correct = res
    return sum(correct) / len(correct), correct


def write_jsonl(path, items):
    with open(path, "w") as f:
        for it in items:
            f.write(json.dumps(it) + "\n")


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class Timer:
    def __init__(self):
        self.t0 = time.time()
        self.marks = {}

    def mark(self, name):
        now = time.time()
        self.marks[name] = round(now - self.t0, 1)
        self.t0 = now
        return self.marks[name]

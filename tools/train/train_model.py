"""Stage 1: train the toy Llama on the synthetic language and save it in Hugging Face layout,
together with the held-out ground-truth prompts."""

import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

import common
import language
from model import Llama


def write_ground_truth(w, cfg, out_dir):
    """Held-out prompts per task. Deterministic and independent of the training stream, so both stages
    write them (the dictionary stage rewrites them so reports always match the generator's code)."""
    gt = language.ground_truth_sets(w, cfg["seed"])
    gt_dir = os.path.join(out_dir, "ground_truth")
    os.makedirs(gt_dir, exist_ok=True)
    for task, items in gt.items():
        common.write_jsonl(os.path.join(gt_dir, task + ".jsonl"), items)
    return gt


def train_model(cfg, out_dir, log=print):
    tc = cfg["train"]
    common.setup_torch(cfg["seed"], cfg.get("threads", 1))
    w, vocab = common.world_and_vocab(cfg)
    hf = common.hf_config(cfg, len(vocab))
    model = Llama(hf)
    with torch.no_grad():
        # Fixed at one so that the MLP input (post_attention_layernorm output) and the TransformerLens
        # hook ln2.hook_normalized (x / rms, before the gain) are the same tensor: dictionaries trained
        # on it are valid under either reading.
        for blk in model.model.layers:
            blk.post_attention_layernorm.weight.requires_grad_(False)
    gt = write_ground_truth(w, cfg, out_dir)

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tc["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}], lr=tc["lr"], betas=(0.9, 0.95))
    steps, warm = tc["steps"], tc["warmup"]
    rng = random.Random(cfg["seed"])
    t0 = time.time()
    model.train()
    for step in range(steps):
        lr = tc["lr"] * (step + 1) / warm if step < warm else \
            tc["lr"] * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm))))
        for g in opt.param_groups:
            g["lr"] = lr
        ids = common.make_batch(w, vocab, rng, tc["batch"], cfg["model"]["ctx"])
        logits = model(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % tc["log_every"] == 0 or step == steps - 1:
            msg = f"step {step} loss {loss.item():.4f} lr {lr:.2e} elapsed {time.time() - t0:.0f}s"
            if tc.get("eval_every") and (step % tc["eval_every"] == 0 or step == steps - 1) and step > 0:
                model.eval()
                accs = {k: round(common.accuracy(model, vocab, v)[0], 3) for k, v in gt.items()}
                model.train()
                msg += " acc " + json.dumps(accs)
            log(msg)
            sys.stdout.flush()
    model.eval()
    folder = os.path.join(out_dir, cfg["name"])
    common.save_model(model, vocab, folder)
    return model, vocab, time.time() - t0

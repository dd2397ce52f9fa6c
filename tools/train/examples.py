"""Pick example .prompt files (one per showcase task) among the ground-truth prompts that the trained
model answers correctly, preferring the most confident one so the example stays robust."""

import os

import torch

import common
import tokenizer_io

SHOWCASE = [
    ("two-hop", "two_hop", lambda it: True),
    ("two-hop-composed", "two_hop", lambda it: it["held_out_composition"]),
    ("induction", "induction", lambda it: True),
    ("colour-shape", "color_shape", lambda it: it["prompt"].startswith("there is")),
    ("x-squared", "square", lambda it: "equals" in it["prompt"]),
]


@torch.no_grad()
def write_examples(model, vocab, gt_dir, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name, task, keep in SHOWCASE:
        best = None
        for it in common.read_jsonl(os.path.join(gt_dir, task + ".jsonl")):
            if not keep(it):
                continue
            ids = torch.tensor([tokenizer_io.encode(vocab, it["prompt"])])
            p = model(ids)[0, -1].softmax(-1)
            a = vocab[it["answer"]]
            if int(p.argmax()) == a and (best is None or p[a] > best[0]):
                best = (float(p[a]), it)
        if best is None:
            continue
        with open(os.path.join(out_dir, name + ".prompt"), "w") as f:
            f.write(best[1]["prompt"] + "\n")
        written.append((name, best[1], best[0]))
    return written

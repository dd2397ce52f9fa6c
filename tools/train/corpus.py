"""A held-out corpus from the synthetic language, for feature dashboards: JSONL, one document per line
({"text": …}), each document whole sentences of at most the model's context (seeded, never used in
training or labelling).

    /usr/bin/python3 tools/train/corpus.py --config tools/train/configs/toy-via-state.json --docs 900 --out models/toy-llama/corpus.jsonl
"""
import argparse
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
import language  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--docs", type=int, default=900)
    ap.add_argument("--words", type=int, default=126, help="words per document (the context is 128 with BOS)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    cfg = common.load_config(a.config)
    w = language.World(cfg["seed"], cfg.get("language"))
    rng = random.Random(cfg["seed"] + 909)
    with open(a.out, "w") as f:
        for _ in range(a.docs):
            words, _ = language.sequence(w, rng, a.words)
            # Whole sentences only: cut after the last full stop.
            last = max(i for i, x in enumerate(words) if x == ".")
            f.write(json.dumps({"text": " ".join(words[:last + 1])}) + "\n")


if __name__ == "__main__":
    main()

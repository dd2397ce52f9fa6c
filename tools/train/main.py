"""Make the embedded ground-truth model bundle.

  python3 tools/train/main.py --config tools/train/configs/toy-via-state.json --out models [--stage model|dicts|all]

Stage `model` trains the toy Llama and writes <out>/<name>/ (HF layout) and <out>/ground_truth/.
Stage `dicts` trains the transcoders, the cross-layer transcoder and the residual SAE on the saved model,
labels every feature from the generator's latent variables and writes <out>/<name>/REPORT.{json,md}.
Everything is deterministic given the config's seed (single-threaded torch on one machine).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# One BLAS thread: the machine is shared, and a fixed thread count keeps float summation order (and so
# the trained weights) reproducible. Must be set before torch (and its BLAS) is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stage", default="all", choices=["model", "dicts", "all"])
    ap.add_argument("--examples", help="also write example .prompt files (that the model answers) here")
    args = ap.parse_args()

    import common
    cfg = common.load_config(args.config)
    os.makedirs(args.out, exist_ok=True)
    timings_path = os.path.join(args.out, cfg["name"], "timings.json")

    def log(msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    timings = {}
    if args.stage in ("model", "all"):
        from train_model import train_model
        _, _, secs = train_model(cfg, args.out, log=log)
        timings["model_s"] = round(secs, 1)
        log(f"model trained in {secs:.0f}s")
        with open(timings_path, "w") as f:
            json.dump(timings, f, indent=2)
    if args.stage in ("dicts", "all"):
        if os.path.exists(timings_path):
            with open(timings_path) as f:
                timings.update(json.load(f))
        from dictionaries import build_all, write_report
        report, t = build_all(cfg, args.out, log=log)
        timings.update(t)
        with open(timings_path, "w") as f:
            json.dump(timings, f, indent=2)
        write_report(report, timings, os.path.join(args.out, cfg["name"]))
    if args.examples:
        from examples import write_examples
        model, vocab = common.load_model(os.path.join(args.out, cfg["name"]))
        for name, it, p in write_examples(model, vocab, os.path.join(args.out, "ground_truth"), args.examples):
            log(f"example {name}: {it['prompt']!r} -> {it['answer']} (p={p:.3f})")
    log("done " + json.dumps(timings))


if __name__ == "__main__":
    main()

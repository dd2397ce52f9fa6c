#!/bin/bash
# One shard of `circuit-inspector batch` per Slurm array task; then merge.
#
#   PROMPTS=prompts.jsonl OUT=runs/two-hop sbatch --array=0-3 scripts/cluster/slurm-batch.sh
#   sbatch --dependency=afterok:<jobid> --wrap "node dist/cli.js batch merge runs/two-hop"
#
# The shard count is the array's size (SLURM_ARRAY_TASK_COUNT), the shard the task id, so --array=0-N-1
# is all there is to change. Extra flags (model, transcoders, thresholds) go in EXTRA_ARGS. Run from the
# repository (or set CIRCUIT_INSPECTOR to the CLI command). Outside Slurm the same script runs one shard
# when SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT are set by hand (the tests do exactly that).
#SBATCH --job-name=circuit-batch
#SBATCH --array=0-3
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=02:00:00
#SBATCH --output=circuit-batch-%A_%a.log
set -euo pipefail
: "${PROMPTS:?set PROMPTS to the prompts .jsonl file}"
: "${OUT:?set OUT to the output folder (shared by every task)}"
: "${SLURM_ARRAY_TASK_ID:?not an array task: submit with sbatch --array}"
: "${SLURM_ARRAY_TASK_COUNT:?not an array task: submit with sbatch --array}"
CLI=${CIRCUIT_INSPECTOR:-node dist/cli.js}
# shellcheck disable=SC2086 # CLI and EXTRA_ARGS are word lists on purpose
exec $CLI batch "$PROMPTS" --out "$OUT" --shard "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" --provider "${PROVIDER:-auto}" ${EXTRA_ARGS:-}

#!/usr/bin/env bash
# Testing on a Slurm cluster, one task per GPU (or per process on a
# partition without GPUs: GPUS_PER_NODE=0 or a CPU partition, see
# slurm_resources.sh). MASTER_PORT sets the rendezvous port (default 29500).
# Usage: [GPUS=4] [GPUS_PER_NODE=4] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]
set -euo pipefail
usage() {
    cat <<'EOF'
Usage: [GPUS=4] [GPUS_PER_NODE=4] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
  tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]
Tests on a Slurm cluster through srun, one task per GPU (--launcher
slurm); GPUS_PER_NODE=0 or a partition without GPUs starts the tasks
without --gres. MASTER_PORT sets the rendezvous port (default 29500).
test.py options: python tools/test.py --help
EOF
}
case "${1:-}" in -h | --help) usage; exit 0 ;; esac
if [ $# -lt 4 ]; then
    echo "tools/slurm_test.sh: PARTITION, JOB_NAME, CONFIG and" \
        "CHECKPOINT are required (--help for usage)" >&2
    usage >&2
    exit 2
fi
set -x
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
SRUN_ARGS=${SRUN_ARGS:-""}
# shellcheck source=tools/slurm_resources.sh
source "$(dirname "$0")/slurm_resources.sh"

# SRUN_ARGS is split into words on purpose.
# shellcheck disable=SC2086
PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    "${SRUN_RESOURCES[@]}" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    python -u "$(dirname "$0")/test.py" "$CONFIG" "$CHECKPOINT" \
    --launcher slurm "${@:5}"

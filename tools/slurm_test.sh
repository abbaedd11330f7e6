#!/usr/bin/env bash
# Testing on a Slurm cluster, one task per GPU (or per process on a
# partition without GPUs): tools/slurm_test.sh --help.
set -euo pipefail
USAGE='Usage: [GPUS=4] [GPUS_PER_NODE=4] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
  [PORT=29500] tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT \
  [test.py options]
Tests on a Slurm cluster through srun, one task per GPU (--launcher
slurm); GPUS_PER_NODE=0 or a partition without GPUs starts the tasks
without --gres. The rendezvous port is PORT, else MASTER_PORT, else 29500
(two jobs sharing a node need different ports).
test.py options: python tools/test.py --help'
REQUIRED=(PARTITION JOB_NAME CONFIG CHECKPOINT)
# shellcheck source=tools/launcher_common.sh
source "$(dirname "$0")/launcher_common.sh"
launcher_check_args "$@"
set -x

run_srun "$1" "$2" test.py "$3" "$4" --launcher slurm "${@:5}"

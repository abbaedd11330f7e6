#!/usr/bin/env bash
# Training on a Slurm cluster, one task per GPU (or per process on a
# partition without GPUs): tools/slurm_train.sh --help.
set -euo pipefail
USAGE='Usage: [GPUS=4] [GPUS_PER_NODE=4] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
  [PORT=29500] tools/slurm_train.sh PARTITION JOB_NAME CONFIG \
  [train.py options]
Trains on a Slurm cluster through srun, one task per GPU (--launcher
slurm); GPUS_PER_NODE=0 or a partition without GPUs starts the tasks
without --gres. The rendezvous port is PORT, else MASTER_PORT, else 29500
(two jobs sharing a node need different ports).
train.py options: python tools/train.py --help'
REQUIRED=(PARTITION JOB_NAME CONFIG)
# shellcheck source=tools/launcher_common.sh
source "$(dirname "$0")/launcher_common.sh"
launcher_check_args "$@"
set -x

run_srun "$1" "$2" train.py "$3" --launcher slurm "${@:4}"

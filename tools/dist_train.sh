#!/usr/bin/env bash
# Multi-process training through torchrun: tools/dist_train.sh --help.
set -euo pipefail
USAGE='Usage: [NNODES=1] [NODE_RANK=0] [MASTER_ADDR=127.0.0.1] [PORT=29500] \
  tools/dist_train.sh CONFIG GPUS [train.py options]
Trains with GPUS processes per node through torchrun (--launcher pytorch;
processes on the CPU where there is no CUDA). Multi-node: set NNODES,
NODE_RANK, MASTER_ADDR and PORT on every node. The rendezvous port is PORT,
else MASTER_PORT, else 29500.
train.py options: python tools/train.py --help'
REQUIRED=(CONFIG GPUS)
# shellcheck source=tools/launcher_common.sh
source "$(dirname "$0")/launcher_common.sh"
launcher_check_args "$@"

run_torchrun "$2" train.py "$1" --launcher pytorch "${@:3}"

#!/usr/bin/env bash
# Multi-process testing through torchrun: tools/dist_test.sh --help.
set -euo pipefail
USAGE='Usage: [NNODES=1] [NODE_RANK=0] [MASTER_ADDR=127.0.0.1] [PORT=29500] \
  tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]
Tests with GPUS processes per node through torchrun (--launcher pytorch;
processes on the CPU where there is no CUDA). Multi-node: set NNODES,
NODE_RANK, MASTER_ADDR and PORT on every node. The rendezvous port is PORT,
else MASTER_PORT, else 29500.
test.py options: python tools/test.py --help'
REQUIRED=(CONFIG CHECKPOINT GPUS)
# shellcheck source=tools/launcher_common.sh
source "$(dirname "$0")/launcher_common.sh"
launcher_check_args "$@"

run_torchrun "$3" test.py "$1" "$2" --launcher pytorch "${@:4}"

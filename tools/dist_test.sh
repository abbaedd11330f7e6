#!/usr/bin/env bash
# Multi-process testing through torchrun.
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
set -euo pipefail
usage() {
    cat <<'EOF'
Usage: [NNODES=1] [NODE_RANK=0] [MASTER_ADDR=127.0.0.1] [PORT=29500] \
  tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]
Tests with GPUS processes per node through torchrun (--launcher pytorch;
processes on the CPU where there is no CUDA). Multi-node: set NNODES,
NODE_RANK, MASTER_ADDR and PORT on every node.
test.py options: python tools/test.py --help
EOF
}
case "${1:-}" in -h | --help) usage; exit 0 ;; esac
if [ $# -lt 3 ]; then
    echo "tools/dist_test.sh: CONFIG, CHECKPOINT and GPUS are required" \
        "(--help for usage)" >&2
    usage >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}

PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" \
torchrun \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$GPUS" \
    "$(dirname "$0")/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch \
    "${@:4}"

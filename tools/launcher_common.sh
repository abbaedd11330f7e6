#!/usr/bin/env bash
# Sourced by dist_train.sh, dist_test.sh, slurm_train.sh and slurm_test.sh.
#
# A launcher sets USAGE (its usage text, the one place it is written) and
# REQUIRED (the names of its positional arguments), sources this file and
# calls `launcher_check_args "$@"`, then `run_torchrun` or `run_srun`.
#
# The rendezvous port of all four is PORT, else MASTER_PORT, else 29500:
# PORT is the launchers' own setting, while MASTER_PORT may be left in the
# environment by an enclosing launcher.

TOOLS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAUNCH_PORT=${PORT:-${MASTER_PORT:-29500}}
# The repository first, so that the tools import its emanet.
export PYTHONPATH="$TOOLS_DIR/..${PYTHONPATH:+:$PYTHONPATH}"

launcher_usage() {
    printf '%s\n' "$USAGE"
}

# "A and B", "A, B and C", ...: the names of REQUIRED.
_required_names() {
    local names=${REQUIRED[0]} i last=$((${#REQUIRED[@]} - 1))
    for ((i = 1; i < last; i++)); do
        names+=", ${REQUIRED[i]}"
    done
    if [ "$last" -gt 0 ]; then
        names+=" and ${REQUIRED[last]}"
    fi
    printf '%s' "$names"
}

# Usage on -h/--help (exit 0); on a missing argument, one line naming the
# arguments and the usage, on stderr (exit 2).
launcher_check_args() {
    case "${1:-}" in -h | --help) launcher_usage; exit 0 ;; esac
    if [ $# -lt ${#REQUIRED[@]} ]; then
        echo "tools/$(basename "$0"): $(_required_names) are required" \
            "(--help for usage)" >&2
        launcher_usage >&2
        exit 2
    fi
}

# run_torchrun GPUS TOOL [ARGS...]: GPUS processes per node of
# tools/TOOL through torchrun (NNODES, NODE_RANK, MASTER_ADDR for several
# nodes).
run_torchrun() {
    local gpus=$1 tool=$2
    torchrun \
        --nnodes="${NNODES:-1}" \
        --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --master_port="$LAUNCH_PORT" \
        --nproc_per_node="$gpus" \
        "$TOOLS_DIR/$tool" "${@:3}"
}

# run_srun PARTITION JOB_NAME TOOL [ARGS...]: one Slurm task of tools/TOOL
# per GPU (slurm_resources.sh); the tasks read the port from MASTER_PORT.
run_srun() {
    PARTITION=$1
    local job_name=$2 tool=$3
    # shellcheck source=tools/slurm_resources.sh
    source "$TOOLS_DIR/slurm_resources.sh"  # reads PARTITION
    export MASTER_PORT=$LAUNCH_PORT
    # SRUN_ARGS is split into words on purpose.
    # shellcheck disable=SC2086
    srun -p "$PARTITION" \
        --job-name="$job_name" \
        "${SRUN_RESOURCES[@]}" \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS:-} \
        python -u "$TOOLS_DIR/$tool" "${@:4}"
}

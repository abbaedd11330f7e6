#!/usr/bin/env bash
# Sourced by run_srun (launcher_common.sh) for slurm_train.sh and
# slurm_test.sh: the srun options for the tasks' resources, in the array
# SRUN_RESOURCES. Reads PARTITION, GPUS, GPUS_PER_NODE and CPUS_PER_TASK.
#
# One task per GPU. GPUs are asked for (--gres=gpu:N) only when there are
# GPUs to ask for: GPUS_PER_NODE=0, or a partition whose nodes have no GPU
# generic resource (sinfo shows none), starts the tasks without --gres;
# GPUS_PER_NODE (when > 0) still gives the tasks per node, at most GPUS.
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
if [ "$GPUS_PER_NODE" -gt "$GPUS" ]; then
    GPUS_PER_NODE=$GPUS
fi

SRUN_RESOURCES=(--ntasks="$GPUS" --cpus-per-task="$CPUS_PER_TASK")
if [ "$GPUS_PER_NODE" -gt 0 ]; then
    SRUN_RESOURCES+=(--ntasks-per-node="$GPUS_PER_NODE")
    # A partition sinfo cannot describe keeps the request as given.
    PARTITION_GRES=$(sinfo -h -p "$PARTITION" -o %G 2>/dev/null || echo gpu)
    if [[ "$PARTITION_GRES" == *gpu* ]]; then
        SRUN_RESOURCES+=(--gres=gpu:"$GPUS_PER_NODE")
    else
        echo "partition $PARTITION has no GPUs: $GPUS tasks" \
            "($GPUS_PER_NODE per node) without --gres" >&2
    fi
fi

#!/bin/sh
# The one prepared GPU check (see benchmarks/gpu_check.py and docs/SPEED_AND_SCALE.md), runnable
# from anywhere without installing partreid (projects/PartMix is on the path so that a PartMix
# config's PROJECTS import works); arguments pass through, e.g.
#   benchmarks/gpu_check.sh --method-config projects/PartMix/configs/sysu_partmix.yaml --out /path/to/results
#   benchmarks/gpu_check.sh --device cpu --quick --method-config CFG --out /tmp/r   # the CPU mode
REPO=$(cd "$(dirname "$0")/.." && pwd) || exit 1
PYTHONPATH="$REPO:$REPO/projects/PartMix${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 \
    exec "${PYTHON:-python3}" "$REPO/benchmarks/gpu_check.py" "$@"

#!/bin/sh
# The one prepared GPU check (see benchmarks/gpu_check.py and docs/SPEED_AND_SCALE.md), runnable
# from anywhere without installing partreid; arguments pass through, e.g.
#   benchmarks/gpu_check.sh --out /path/to/results            # CUDA, full size, --budget 420 s
#   benchmarks/gpu_check.sh --device cpu --quick --out /tmp/r  # the CPU smoke test
REPO=$(cd "$(dirname "$0")/.." && pwd) || exit 1
PYTHONPATH="$REPO:$REPO/projects/PartMix${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 \
    exec "${PYTHON:-python3}" "$REPO/benchmarks/gpu_check.py" "$@"

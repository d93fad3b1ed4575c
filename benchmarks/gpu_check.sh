#!/bin/sh
# The one prepared GPU check (see benchmarks/gpu_check.py and docs/SPEED_AND_SCALE.md), runnable
# from anywhere without installing partreid (a config that lists PROJECTS needs those projects
# installed, `pip install -e projects/NAME`: they are found through their entry points);
# arguments pass through, e.g.
#   benchmarks/gpu_check.sh --method-config METHOD.yaml --out /path/to/results
#   benchmarks/gpu_check.sh --device cpu --quick --method-config CFG --out /tmp/r   # the CPU mode
REPO=$(cd "$(dirname "$0")/.." && pwd) || exit 1
PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 \
    exec "${PYTHON:-python3}" "$REPO/benchmarks/gpu_check.py" "$@"

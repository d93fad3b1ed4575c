# Quick start targets: each one installs what it needs first (test-fast excepted, see below).
PYTHON ?= python3
CONFIG ?= projects/PartMix/configs/synthvi_partmix_quick.yaml

.PHONY: install demo test test-fast bench

# torch is pinned to the build this project is tested with (a CUDA wheel that also runs on the CPU),
# and is installed only when no torch is importable. Everything else comes at the exact versions
# of constraints.txt, the ones the test suite passed with. The PartMix and PartDiscovery projects
# are their own packages (projects/<Name>/pyproject.toml), installed beside the core for the demo
# and their tests.
install:
	@$(PYTHON) -c "import torch, torchvision" 2>/dev/null || $(PYTHON) -m pip install torch==2.14.1 torchvision==0.29.1
	$(PYTHON) -m pip install -q -c constraints.txt -e ".[dev]" -e projects/PartMix -e projects/PartDiscovery

# The main job: train PartMix on SynthVI (generated on first use) for 250 iterations and print
# Rank-1 / mAP; CONFIG=projects/PartMix/configs/synthvi_partmix.yaml trains the longer run.
demo: install
	$(PYTHON) tools/train_net.py --config-file $(CONFIG)

# The whole suite, one pytest-xdist worker per core (about 8.5 minutes on 2 cores instead of 14).
# Tests keep their threads (one checks training at the default thread count); PASSIVE makes an idle
# OpenMP thread sleep instead of spinning on a core the other worker needs.
test: install
	OMP_WAIT_POLICY=PASSIVE $(PYTHON) -m pytest -q -n auto

# Everything but the tests marked slow (training runs, tools end to end), for the edit-test loop:
# under a minute on 2 cores, with one pytest-xdist worker per core, each on one thread (two
# workers' OpenMP threads spinning on the same cores would slow both). It does not reinstall
# (that alone takes about a minute): run `make install` (or `make test`) once first.
test-fast:
	OMP_NUM_THREADS=1 $(PYTHON) -m pytest -q -n auto -m "not slow"

bench: install
	$(PYTHON) benchmarks/bench_eval.py

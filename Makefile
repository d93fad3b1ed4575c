# Quick start targets: each one installs what it needs first.
PYTHON ?= python3
CONFIG ?= projects/PartMix/configs/synthvi_partmix.yaml

.PHONY: install demo test bench

# torch is pinned to the build this project is tested with (a CUDA wheel that also runs on the CPU),
# and is installed only when no torch is importable. Everything else comes at the exact versions
# of constraints.txt, the ones the test suite passed with.
install:
	@$(PYTHON) -c "import torch, torchvision" 2>/dev/null || $(PYTHON) -m pip install torch==2.14.1 torchvision==0.29.1
	$(PYTHON) -m pip install -q -c constraints.txt -e ".[dev]"

# The main job: train PartMix on SynthVI (generated on first use) and print Rank-1 / mAP.
demo: install
	$(PYTHON) tools/train_net.py --config-file $(CONFIG)

test: install
	$(PYTHON) -m pytest -q

bench: install
	$(PYTHON) benchmarks/bench_eval.py

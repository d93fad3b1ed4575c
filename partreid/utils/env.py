"""Seeding and a description of the software/hardware environment for the log."""
import logging
import os
import platform
import random
import sys

import numpy as np
import torch

logger = logging.getLogger(__name__)


def seed_all_rng(seed=None) -> int:
    """Seed python, numpy and torch. A None/negative seed is drawn from the OS and returned
    (and logged by the caller) so that the run can still be reproduced."""
    if seed is None or seed < 0:
        seed = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return seed


def configure_determinism(deterministic: bool, cudnn_benchmark: bool, device_type: str) -> str:
    """Apply the DETERMINISTIC / CUDNN_BENCHMARK keys and return one line for the log that says
    whether this run is reproducible bit for bit.

    On CUDA, deterministic mode needs cuBLAS's fixed workspace (CUBLAS_WORKSPACE_CONFIG, read when
    cuBLAS starts, so this runs before the model is built) and cuDNN without autotuning. On the
    CPU the built-in models are bitwise reproducible at a fixed thread count without it: their
    gradients avoid atomic accumulation (tests/engine/test_reproducibility.py); the key extends
    the guarantee to any op a fork adds, and costs little on the CPU (BENCHMARKS.md)."""
    if deterministic:
        if device_type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        extra = (f", cuDNN deterministic without autotuning, CUBLAS_WORKSPACE_CONFIG="
                 f"{os.environ['CUBLAS_WORKSPACE_CONFIG']}" if device_type == "cuda" else "")
        return (f"Deterministic run: torch.use_deterministic_algorithms(True){extra}; the same config, seed and "
                f"thread count ({torch.get_num_threads()}) give bitwise-identical runs (an op without a "
                "deterministic implementation logs a warning)")
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.deterministic = False
    torch.backends.cudnn.benchmark = cudnn_benchmark
    if device_type == "cuda":
        return ("Run NOT bitwise reproducible: DETERMINISTIC is False, so cuDNN autotuning and atomic adds on "
                "the GPU vary from run to run; set DETERMINISTIC True to make runs repeatable (slower)")
    return (f"DETERMINISTIC is False: on the CPU the built-in models are still bitwise reproducible at a fixed "
            f"thread count ({torch.get_num_threads()}); an op added by a fork may not be (set DETERMINISTIC True)")


def collect_env_info() -> str:
    import cv2
    import torchvision

    rows = [
        ("sys.platform", sys.platform),
        ("Python", sys.version.replace("\n", "")),
        ("machine", f"{platform.machine()} / {platform.processor() or 'unknown cpu'} / {os.cpu_count()} cpus"),
        ("numpy", np.__version__),
        ("PyTorch", f"{torch.__version__} ({os.path.dirname(torch.__file__)})"),
        ("torchvision", torchvision.__version__),
        ("OpenCV", cv2.__version__),
        ("CUDA available", torch.cuda.is_available()),
        ("torch threads", torch.get_num_threads()),
    ]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            rows.append((f"GPU {i}", torch.cuda.get_device_name(i)))
        rows.append(("CUDA / cuDNN", f"{torch.version.cuda} / {torch.backends.cudnn.version()}"))
        rows.append(("bf16 supported", torch.cuda.is_bf16_supported()))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)

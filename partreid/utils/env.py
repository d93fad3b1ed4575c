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


def resolve_device(cfg) -> torch.device:
    """MODEL.DEVICE as a torch.device: "auto" is CUDA when available, else the CPU."""
    name = cfg.MODEL.DEVICE
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"MODEL.DEVICE={name!r} but CUDA is not available; use 'auto' or 'cpu'.")
    return torch.device(name)


# cuBLAS's fixed workspace sizes that make its kernels deterministic (CUDA's documentation of
# CUBLAS_WORKSPACE_CONFIG); torch refuses a cuBLAS call in deterministic mode without one.
DETERMINISTIC_CUBLAS_WORKSPACES = (":4096:8", ":16:8")


def configure_cublas_workspace() -> str:
    """Put CUBLAS_WORKSPACE_CONFIG into the environment for a deterministic CUDA run, and return
    its value. cuBLAS reads it once, when it starts (the first matrix product on the GPU), so it
    must be set before then: this refuses when it is missing and CUDA has already started, since
    a later value would be checked by torch but not used by cuBLAS. A valid value exported by
    the user is kept."""
    value = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    if value in DETERMINISTIC_CUBLAS_WORKSPACES:
        return value
    if torch.cuda.is_initialized():
        raise RuntimeError(
            "DETERMINISTIC True on CUDA needs CUBLAS_WORKSPACE_CONFIG set before CUDA starts, and CUDA has already "
            f"started in this process (CUBLAS_WORKSPACE_CONFIG is {value!r}). Export "
            f"CUBLAS_WORKSPACE_CONFIG={DETERMINISTIC_CUBLAS_WORKSPACES[0]} before running, or call "
            "configure_determinism (default_setup does) before anything touches the GPU."
        )
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = DETERMINISTIC_CUBLAS_WORKSPACES[0]
    return os.environ["CUBLAS_WORKSPACE_CONFIG"]


def configure_determinism(deterministic: bool, cudnn_benchmark: bool, device_type: str) -> str:
    """Apply the DETERMINISTIC / CUDNN_BENCHMARK keys and return one line for the log that says
    whether this run is reproducible bit for bit. Call it before anything touches the GPU.

    On CUDA, deterministic mode makes every op without a deterministic CUDA kernel raise (no
    `warn_only`: a run that cannot repeat stops instead of warning), sets cuBLAS's fixed
    workspace (`configure_cublas_workspace`) and turns cuDNN autotuning off; the built-in models
    replace or refuse their ops that have no deterministic CUDA backward
    (partreid.modeling.meta_arch.build.check_deterministic_backward). On the CPU the built-in
    models are bitwise reproducible at a fixed thread count without it: their gradients avoid
    atomic accumulation (tests/engine/test_reproducibility.py); the key extends the guarantee to
    any op a fork adds (a warning names an op that has no deterministic CPU kernel), and costs
    little on the CPU (BENCHMARKS.md)."""
    if deterministic:
        on_cuda = device_type == "cuda"
        workspace = configure_cublas_workspace() if on_cuda else None
        torch.use_deterministic_algorithms(True, warn_only=not on_cuda)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        if on_cuda:
            return ("Deterministic run: torch.use_deterministic_algorithms(True) (an op without a deterministic CUDA "
                    f"kernel raises), cuDNN deterministic without autotuning, CUBLAS_WORKSPACE_CONFIG={workspace}; "
                    "the same config, seed and GPU give bitwise-identical runs")
        return (f"Deterministic run: torch.use_deterministic_algorithms(True); the same config, seed and "
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

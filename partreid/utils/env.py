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

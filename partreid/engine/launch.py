"""Start one process per device with torch.distributed; also works under `torchrun`.

On CUDA each process drives one GPU with NCCL; without CUDA the processes use gloo on the
CPU, which is how the multi-process tests run."""
import logging
import os
import socket
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

logger = logging.getLogger(__name__)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _backend() -> str:
    return "nccl" if torch.cuda.is_available() else "gloo"


def launched_by_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


def launch(main_func, num_gpus: int, args=(), timeout_minutes: int = 30):
    """Run main_func(*args) in `num_gpus` processes (or in this one when num_gpus <= 1).
    Under torchrun (LOCAL_RANK/WORLD_SIZE set) the process group is initialised from the
    environment and main_func runs in the current process."""
    if launched_by_torchrun():
        local_rank = int(os.environ["LOCAL_RANK"])
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=_backend(), timeout=timedelta(minutes=timeout_minutes))
        try:
            return main_func(*args)
        finally:
            dist.destroy_process_group()
    if num_gpus <= 1:
        return main_func(*args)
    if torch.cuda.is_available() and torch.cuda.device_count() < num_gpus:
        raise ValueError(f"--num-gpus {num_gpus} requested but only {torch.cuda.device_count()} GPUs are visible")
    url = f"tcp://127.0.0.1:{_free_port()}"
    mp.start_processes(_worker, nprocs=num_gpus, args=(main_func, num_gpus, url, args, timeout_minutes),
                       daemon=False, start_method="spawn")


def _worker(local_rank, main_func, world_size, url, args, timeout_minutes):
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=_backend(), init_method=url, world_size=world_size, rank=local_rank,
                            timeout=timedelta(minutes=timeout_minutes))
    try:
        main_func(*args)
    finally:
        dist.destroy_process_group()

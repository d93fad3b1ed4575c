"""Start one process per device with torch.distributed, on one machine or several; also works
under `torchrun`.

The flags follow detectron2 and torchrun: `--num-gpus` processes on each of `--num-machines`
machines, this machine being `--machine-rank`, all meeting at `--dist-url` (the address of
machine 0). Process rank = machine_rank * num_gpus + local rank, as torchrun numbers them. On
CUDA each process drives one GPU with NCCL; without CUDA the processes use gloo on the CPU,
which is how the multi-process tests run."""
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


def launch(main_func, num_gpus_per_machine: int, num_machines: int = 1, machine_rank: int = 0,
           dist_url: str = "auto", args=(), timeout_minutes: int = 30):
    """Run main_func(*args) in num_gpus_per_machine processes on this machine, as part of a job of
    num_machines machines (in this process when the job has one process in all).

    dist_url: "auto" picks a free local port (one machine only); several machines need the
    same "tcp://HOST:PORT" of machine 0 on every machine. Under torchrun (LOCAL_RANK and
    WORLD_SIZE set) the process group comes from the environment and main_func runs here."""
    if launched_by_torchrun():
        if num_machines > 1 or num_gpus_per_machine > 1:
            logger.warning("Launched by torchrun: --num-gpus/--num-machines/--machine-rank/--dist-url are ignored; "
                           "torchrun's own settings apply")
        local_rank = int(os.environ["LOCAL_RANK"])
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=_backend(), timeout=timedelta(minutes=timeout_minutes))
        try:
            return main_func(*args)
        finally:
            dist.destroy_process_group()
    if num_gpus_per_machine < 1 or num_machines < 1:
        raise ValueError(f"--num-gpus {num_gpus_per_machine} and --num-machines {num_machines} must both be >= 1")
    if not 0 <= machine_rank < num_machines:
        raise ValueError(f"--machine-rank {machine_rank} must be in [0, {num_machines - 1}] for --num-machines {num_machines}")
    world_size = num_gpus_per_machine * num_machines
    if world_size == 1:
        return main_func(*args)
    if torch.cuda.is_available() and torch.cuda.device_count() < num_gpus_per_machine:
        raise ValueError(f"--num-gpus {num_gpus_per_machine} requested but only {torch.cuda.device_count()} GPUs are visible")
    if dist_url == "auto":
        if num_machines > 1:
            raise ValueError("--dist-url auto works on one machine only; with --num-machines > 1 give every machine "
                             "machine 0's address, e.g. --dist-url tcp://10.0.0.1:29500")
        dist_url = f"tcp://127.0.0.1:{_free_port()}"
    mp.start_processes(
        _worker, nprocs=num_gpus_per_machine,
        args=(main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args, timeout_minutes),
        daemon=False, start_method="spawn",
    )


def _worker(local_rank, main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args, timeout_minutes):
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    rank = machine_rank * num_gpus_per_machine + local_rank
    # the same variables torchrun sets, for code that reads them (e.g. the local rank for a device)
    os.environ.update(LOCAL_RANK=str(local_rank), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_WORLD_SIZE=str(num_gpus_per_machine), GROUP_RANK=str(machine_rank))
    dist.init_process_group(backend=_backend(), init_method=dist_url, world_size=world_size, rank=rank,
                            timeout=timedelta(minutes=timeout_minutes))
    try:
        main_func(*args)
    finally:
        dist.destroy_process_group()

"""Process-group helpers that degrade to no-ops in a single process."""
import torch
import torch.distributed as dist


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    return dist.get_world_size() if is_dist() else 1


def get_rank() -> int:
    return dist.get_rank() if is_dist() else 0


def is_main_process() -> bool:
    return get_rank() == 0


def synchronize() -> None:
    if is_dist() and get_world_size() > 1:
        dist.barrier()


def all_gather(obj):
    """Gather any picklable object from every rank (a list, one entry per rank)."""
    if get_world_size() == 1:
        return [obj]
    out = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def reduce_dict_mean(values: dict) -> dict:
    """Average a dict of scalar tensors over ranks (for logging losses)."""
    if get_world_size() == 1:
        return values
    names = sorted(values)
    stacked = torch.stack([values[k].detach().float() for k in names])
    dist.all_reduce(stacked)
    stacked /= get_world_size()
    return dict(zip(names, stacked))

"""Full precision inside an autocast region, for the parts of a step whose result low precision
would change: scores that are ranked (mining), distances, and every loss reduction."""
import torch


def full_precision(device) -> torch.autocast:
    """A context in which autocast is off for `device` (a torch.device, or a tensor whose device
    is meant): matmuls, einsums and reductions run in the dtype of their inputs, so float32
    inputs give float32 results even inside the trainer's bf16/fp16 autocast. Inputs made under
    autocast must be cast with `.float()` before they enter it (ops do not mix dtypes there)."""
    if torch.is_tensor(device):
        device = device.device
    return torch.autocast(torch.device(device).type, enabled=False)

"""Reading checkpoints and weights files without running code, and checking that they fit a model.

Every checkpoint, weights or features file partreid reads goes through `load_checkpoint_file`:
torch.load with weights_only=True, which unpickles tensors, numbers, strings and containers
only. A pickle can name any Python callable to rebuild an object, and a plain torch.load would
call it; a file that needs more than the allowed types is refused with an error naming it.
partreid's own checkpoints never need more (their hook states are plain dicts).

`check_state_dict_fits` is the strict half: missing, unexpected or mis-shaped tensors are an
error listing them, except those that a fine-tuning run names as skippable
(MODEL.WEIGHTS_MAY_SKIP), which are logged.
"""
import logging
import os
import pickle
import re
from typing import Dict, List, Sequence, Tuple

import torch
from iopath.common.file_io import g_pathmgr

from ..utils.errors import CheckpointError
from .run_config import trained_with

logger = logging.getLogger(__name__)

# Tensors named at most in an error, per kind (missing, unexpected, mis-shaped).
_MAX_LISTED = 30


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint whose pickle needs Python objects beyond tensors and plain containers."""


class UnreadableCheckpointError(CheckpointError):
    """A checkpoint that is truncated, corrupt or not a torch file at all."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def load_checkpoint_file(path: str):
    """The object saved in `path` (a torch.save file), on the CPU, loaded with weights_only=True.
    Raises FileNotFoundError when it does not exist, UnsafeCheckpointError when it would need
    code to load and UnreadableCheckpointError when it is corrupt; each names the file."""
    path = os.fspath(path)
    if not g_pathmgr.isfile(path):
        raise FileNotFoundError(f"Checkpoint file {path} does not exist.")
    try:
        with g_pathmgr.open(path, "rb") as f:
            return torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only load failed" in str(e).lower():
            needed = re.search(r"GLOBAL ([\w.]+)", str(e))
            raise UnsafeCheckpointError(
                f"Refused to load {path}: it holds Python objects other than tensors, numbers, strings and "
                f"containers{f' ({needed.group(1)})' if needed else ''}, so it may contain code that loading would "
                "run. partreid checkpoints never need more; load only files you trust, after re-saving their "
                "tensors alone."
            ) from e
        raise UnreadableCheckpointError(f"Checkpoint {path} is unreadable (not a torch file, or corrupt: "
                                        f"{_first_line(e)})") from e
    except OSError:
        raise  # it names the file already (permission denied, I/O error)
    except Exception as e:  # the weights-only unpickler meets a corrupt file with any kind of error
        raise UnreadableCheckpointError(f"Checkpoint {path} is unreadable (truncated or corrupt: "
                                        f"{type(e).__name__}: {_first_line(e)})") from e


def _strip_ddp_prefix(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    if state and all(key.startswith("module.") for key in state):
        return {key[len("module."):]: value for key, value in state.items()}
    return state


def _listed(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    return shown + (f", ... ({len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else "")


def state_dict_differences(model_state: Dict[str, torch.Tensor], checkpoint_state: Dict[str, torch.Tensor]
                           ) -> Tuple[List[str], List[str], List[str]]:
    """(missing, unexpected, mis-shaped) tensor names of `checkpoint_state` against `model_state`;
    the mis-shaped ones read "name (checkpoint [a, b], model [c, d])"."""
    checkpoint_state = _strip_ddp_prefix(checkpoint_state)
    missing = sorted(set(model_state) - set(checkpoint_state))
    unexpected = sorted(set(checkpoint_state) - set(model_state))
    mis_shaped = sorted(
        f"{key} (checkpoint {list(checkpoint_state[key].shape)}, model {list(model_state[key].shape)})"
        for key in set(model_state) & set(checkpoint_state)
        if isinstance(checkpoint_state[key], torch.Tensor) and isinstance(model_state[key], torch.Tensor)
        and checkpoint_state[key].shape != model_state[key].shape
    )
    return missing, unexpected, mis_shaped


def check_state_dict_fits(model: torch.nn.Module, checkpoint_state: Dict[str, torch.Tensor], path: str,
                          may_skip: Sequence[str] = ()) -> List[str]:
    """Raise CheckpointError listing the tensors of `path` that do not fit `model` (missing,
    unexpected or of another shape), unless each matches one of the regular expressions
    `may_skip` (re.match, i.e. anchored at the start of the name). Returns the skipped names,
    which are logged."""
    patterns = [re.compile(p) for p in may_skip]
    allowed = lambda name: any(p.match(name.split(" (")[0]) for p in patterns)  # noqa: E731
    missing, unexpected, mis_shaped = state_dict_differences(model.state_dict(), checkpoint_state)
    kinds = (("missing", missing), ("unexpected", unexpected), ("of another shape", mis_shaped))
    refused = [(kind, [n for n in names if not allowed(n)]) for kind, names in kinds]
    refused = [(kind, names) for kind, names in refused if names]
    if refused:
        listing = "; ".join(f"{len(names)} {kind}: {_listed(names)}" for kind, names in refused)
        raise CheckpointError(
            f"{path} does not fit this model ({listing}); {trained_with(path)}. Build the model with the config "
            "the checkpoint was trained with; to start training from a part of it, list the tensors that may "
            "be left out in MODEL.WEIGHTS_MAY_SKIP."
        )
    skipped = [n for _, names in kinds for n in names]
    if skipped:
        logger.warning(f"Loading {path}: {len(skipped)} tensors skipped as MODEL.WEIGHTS_MAY_SKIP "
                       f"{list(may_skip)} allows: {', '.join(skipped)}")
    return skipped

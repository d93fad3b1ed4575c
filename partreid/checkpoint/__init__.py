from .checkpointer import ReidCheckpointer, atomic_write_bytes
from .loading import (
    UnreadableCheckpointError,
    UnsafeCheckpointError,
    check_state_dict_fits,
    load_checkpoint_file,
)
from .run_config import RUN_CONFIG_NAME, config_file_for_weights, run_config_of, trained_with

__all__ = [
    "RUN_CONFIG_NAME",
    "ReidCheckpointer",
    "UnreadableCheckpointError",
    "UnsafeCheckpointError",
    "atomic_write_bytes",
    "check_state_dict_fits",
    "config_file_for_weights",
    "load_checkpoint_file",
    "run_config_of",
    "trained_with",
]

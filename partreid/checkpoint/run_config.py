"""Which config goes with a checkpoint: the run folder's config.yaml beside it, which records the
config its weights were trained with. Tools that load a checkpoint from a run folder build the
model from that file unless the user names another with --config-file, and say which they used."""
import os
from typing import Sequence, Tuple

from ..utils.errors import ConfigError

# The name of the config a run folder keeps beside its checkpoints.
RUN_CONFIG_NAME = "config.yaml"
WEIGHTS_KEY = "MODEL.WEIGHTS"


def run_config_of(path: str) -> str:
    """The run folder's config.yaml beside the checkpoint `path`, or "" when there is none."""
    config = os.path.join(os.path.dirname(os.path.abspath(path)), RUN_CONFIG_NAME)
    return config if os.path.isfile(config) else ""


def trained_with(path: str) -> str:
    """A clause for messages saying which config the checkpoint `path` was trained with."""
    config = run_config_of(path)
    if config:
        return f"it was trained with {config}"
    return f"there is no {RUN_CONFIG_NAME} beside it to say which config it was trained with"


def weights_in(opts: Sequence[str]) -> str:
    """The MODEL.WEIGHTS value of a KEY VALUE override list ("" when absent)."""
    opts = list(opts)
    values = [opts[i + 1] for i in range(0, len(opts) - 1, 2) if opts[i] == WEIGHTS_KEY]
    return values[-1] if values else ""  # the last override wins, as in merge_from_list


def config_file_for_weights(config_file: str, opts: Sequence[str]) -> Tuple[str, str]:
    """(config file, why it was chosen) for a tool that loads the checkpoint MODEL.WEIGHTS:
    `config_file` when given, else the run's config.yaml beside the checkpoint named in `opts`.
    Raises ConfigError when there is neither. Callers log the choice."""
    weights = weights_in(opts)
    if config_file:
        source = "--config-file"
        run_config = run_config_of(weights) if weights else ""
        if run_config and os.path.abspath(run_config) != os.path.abspath(config_file):
            source += f"; the checkpoint's run folder has its own {run_config}, used when --config-file is left out"
    else:
        if not weights:
            raise ConfigError("No config: give --config-file, or MODEL.WEIGHTS of a run folder (its config.yaml is "
                              "then used)")
        config_file = run_config_of(weights)
        if not config_file:
            raise ConfigError(f"No config: MODEL.WEIGHTS {weights} has no {RUN_CONFIG_NAME} beside it; give the config "
                              "it was trained with as --config-file")
        source = f"the run folder's {RUN_CONFIG_NAME} beside MODEL.WEIGHTS"
    return config_file, source

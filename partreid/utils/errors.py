"""Errors that a user's input causes (a config, a command line, a file given to a tool), as
opposed to a bug. The command-line tools print them as one line `error: <message>`
(partreid/utils/cli.py); anything else keeps its traceback.

Each one also derives from the built-in type that callers already catch (ValueError, KeyError,
RuntimeError), so `except ValueError` keeps working where it did."""
import errno
import os
from contextlib import contextmanager
from typing import Iterator, Optional


class UserError(Exception):
    """A mistake in what the user gave: the message names the key, file or value at fault and what
    was expected, and is complete on its own (no traceback needed to act on it)."""

    def __str__(self) -> str:
        # KeyError's own __str__ quotes the message as a repr; a user error reads as written
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class ConfigError(UserError, ValueError):
    """A config file, key or value that cannot be used."""


class ConfigKeyError(UserError, KeyError):
    """A config key that does not exist."""


class CheckpointError(UserError, RuntimeError):
    """A checkpoint or weights file that cannot be loaded safely, or does not fit the model."""


class InputFileError(UserError, ValueError):
    """An input file (an image, a list) that is empty, corrupt or missing what it must hold."""


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error` and the exceptions it was raised from or while handling, newest first."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def disk_full_error(error: BaseException) -> Optional[OSError]:
    """The ENOSPC OSError behind `error` (torch.save reports a full disk as a RuntimeError
    "unexpected pos" raised while handling it), or None."""
    return next((e for e in _chain(error) if isinstance(e, OSError) and e.errno == errno.ENOSPC), None)


@contextmanager
def naming_the_file(path: str):
    """Re-raise a full disk while writing `path` as OSError(ENOSPC, ..., path), so that the last
    line of the error names the disk and the file whatever layer noticed it first."""
    try:
        yield
    except Exception as e:
        full = disk_full_error(e)
        if full is None or (e is full and full.filename):
            raise
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), full.filename or path) from e

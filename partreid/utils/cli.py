"""How the command-line tools end on an error: a user's mistake (a UserError, see errors.py, or
an OSError such as a missing file or a full disk) ends with one line `error: <message>` on
stderr (after its details, when the message has more lines) and exit status 2; a bug keeps its
full traceback. PARTREID_TRACEBACK=1 (or --traceback on the command line) shows the traceback of
a user's mistake too.

    if __name__ == "__main__":
        run_tool(main)
"""
import errno
import os
import re
import sys
from typing import Callable, Optional

from .errors import UserError, disk_full_error

# Environment variable that turns the one-line errors back into tracebacks.
TRACEBACK_ENV = "PARTREID_TRACEBACK"
TRACEBACK_FLAG = "--traceback"
# Exit status of a tool stopped by a user's mistake (argparse's own, for a bad command line).
USER_ERROR_STATUS = 2


def _unwrapped(message: str) -> str:
    """The error itself from an error re-raised by a DataLoader worker, whose message carries the
    worker's traceback (the error is its last line); other messages as they are."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Caught ") and "Original Traceback" in lines[1]:
        name, separator, text = lines[-1].partition(": ")
        return text if separator and re.fullmatch(r"[\w.]+", name) else lines[-1]
    return message.strip()


def user_error_message(error: BaseException) -> Optional[str]:
    """What to print for a user's mistake, None for anything else (a bug). Its first line is the
    error; further lines, if any, are details (e.g. the layout a dataset tree should have)."""
    full = disk_full_error(error)
    if full is not None:
        return str(full) if full.filename else f"{os.strerror(errno.ENOSPC)} ({_unwrapped(str(error))})"
    if isinstance(error, (UserError, OSError)):
        return _unwrapped(str(error))
    return None


def traceback_requested(argv=None) -> bool:
    argv = sys.argv[1:] if argv is None else argv
    return os.environ.get(TRACEBACK_ENV, "") not in ("", "0") or TRACEBACK_FLAG in argv


def run_tool(main: Callable, argv=None):
    """Call main(argv) (argv without --traceback); a user's mistake ends the process with one line
    on stderr and exit status 2 unless a traceback was requested. Returns main's result."""
    argv = list(sys.argv[1:] if argv is None else argv)
    show_traceback = traceback_requested(argv)
    argv = [a for a in argv if a != TRACEBACK_FLAG]
    try:
        return main(argv)
    except Exception as e:
        message = user_error_message(e)
        if message is None or show_traceback:
            raise
        first, *details = message.splitlines()
        # details first, so that the output ends with the one line that says what went wrong
        if details:
            print("\n".join(details), file=sys.stderr)
        print(f"error: {first} [{TRACEBACK_ENV}=1 shows the traceback]", file=sys.stderr, flush=True)
        sys.exit(USER_ERROR_STATUS)

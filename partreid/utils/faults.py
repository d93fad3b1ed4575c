"""The crash tests' seam: `PARTREID_KILL_AT=POINT[@N]` makes the process SIGKILL itself the N-th
time (default: the first) it reaches the named point, so a test can stop a run exactly while a
given file is written. Unset (always, outside tests), `kill_point` is one environment lookup.

Points: `write:<file name>` (an atomic write, after the temporary file is complete and before it
is renamed over the file: `write:model_best.pth`, `write:evaluations.json`, ...),
`append:metrics.json` (half-way through appending rows) and `after:evaluation` (an evaluation
has finished, nothing of it is recorded yet)."""
import os
import signal
from collections import Counter

KILL_AT_ENV = "PARTREID_KILL_AT"

_reached = Counter()


def kill_point(name: str) -> None:
    """SIGKILL this process if PARTREID_KILL_AT names `name` and this is its N-th visit."""
    spec = os.environ.get(KILL_AT_ENV)
    if not spec:
        return
    point, _, nth = spec.rpartition("@") if "@" in spec else (spec, "", "1")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] == int(nth):
        os.kill(os.getpid(), signal.SIGKILL)

"""Logging set-up: coloured console on the main process, a log file per rank."""
import logging
import os
import sys

from termcolor import colored


class _ColorfulFormatter(logging.Formatter):
    def formatMessage(self, record):
        log = super().formatMessage(record)
        if record.levelno == logging.WARNING:
            return colored("WARNING", "red", attrs=["blink"]) + " " + log
        if record.levelno >= logging.ERROR:
            return colored("ERROR", "red", attrs=["blink", "underline"]) + " " + log
        return log


def setup_logger(output_dir=None, distributed_rank=0, name="partreid", color=True):
    """Configure the `name` logger (and the projects' loggers, which propagate to the
    root) with a console handler on rank 0 and `output_dir/log.txt` (or log.txt.rankN)."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for h in list(root.handlers):
        if getattr(h, "_partreid", False):
            root.removeHandler(h)
    plain = logging.Formatter("[%(asctime)s] %(name)s %(levelname)s: %(message)s", datefmt="%m/%d %H:%M:%S")
    if distributed_rank == 0:
        ch = logging.StreamHandler(stream=sys.stdout)
        ch.setFormatter(
            _ColorfulFormatter(colored("[%(asctime)s %(name)s]: ", "green") + "%(message)s", datefmt="%m/%d %H:%M:%S")
            if color
            else plain
        )
        ch._partreid = True
        root.addHandler(ch)
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        filename = os.path.join(output_dir, "log.txt" if distributed_rank == 0 else f"log.txt.rank{distributed_rank}")
        fh = logging.FileHandler(filename)
        fh.setFormatter(plain)
        fh._partreid = True
        root.addHandler(fh)
    return logging.getLogger(name)

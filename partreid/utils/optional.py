"""Optional dependencies (the extras of pyproject.toml): a missing one fails with an error that
says what needed it and which extra installs it, instead of a bare ModuleNotFoundError."""


def missing_extra(package: str, extra: str, needed_by: str) -> ImportError:
    """The ImportError to raise (from the original one) when `package`, which partreid's `extra`
    installs, cannot be imported by `needed_by`."""
    return ImportError(
        f"{needed_by} needs {package}, which is not installed. It is part of partreid's '{extra}' extra: "
        f'pip install -e ".[{extra}]" from the repository root (or pip install {package}).'
    )

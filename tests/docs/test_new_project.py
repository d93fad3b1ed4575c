"""docs/extending/new_project.md followed as written: the project is built in a temporary folder
from the page's files, its package is installed as the page says (into a folder of its own, so
that the test leaves the environment alone) and trained for a few iterations by
tools/train_net.py."""
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from partreid.config import setup_cfg
from partreid.utils.errors import ConfigError
from partreid.utils.events import read_metrics
from partreid.utils.testing import REPO_ROOT, run_train_net, tiny_synthvi_opts

PAGE = os.path.join(REPO_ROOT, "docs", "extending", "new_project.md")
EXAMPLE = os.path.join(REPO_ROOT, "docs", "extending", "examples", "toy_project.py")


def page_files(page: str) -> dict:
    """{path: text} of every fenced block whose paragraph before it starts with a `projects/...` path."""
    files = {}
    for block in re.finditer(r"```[a-z]*\n(.*?)```", page, re.S):
        before = page[: block.start()].rstrip().rsplit("\n\n", 1)[-1]
        name = re.match(r"`(projects/[^`]+)`", before)
        if name:
            files[name.group(1)] = block.group(1)
    return files


def page_commands(page: str) -> list:
    (block,) = re.findall(r"```bash\n(.*?)```", page, re.S)
    return [shlex.split(line) for line in block.splitlines() if line.strip()]


@pytest.fixture
def toy_project(tmp_path):
    """The page's project under tmp_path/projects/Toy, with tmp_path/configs standing for the
    repository's configs/ (the page's YAML reaches it through a relative _BASE_)."""
    page = open(PAGE).read()
    files = page_files(page)
    assert sorted(files) == ["projects/Toy/configs/toy_synthvi.yaml", "projects/Toy/pyproject.toml"]
    for path, text in files.items():
        os.makedirs(os.path.dirname(tmp_path / path), exist_ok=True)
        (tmp_path / path).write_text(text)
    assert re.search(r"`projects/Toy/toy_project/__init__.py` is the worked example\s+\[`examples/toy_project.py`\]", page)
    os.makedirs(tmp_path / "projects" / "Toy" / "toy_project")
    shutil.copy(EXAMPLE, tmp_path / "projects" / "Toy" / "toy_project" / "__init__.py")
    os.symlink(os.path.join(REPO_ROOT, "configs"), tmp_path / "configs")
    return page


@pytest.mark.slow
def test_the_page_project_installs_and_trains(toy_project, tmp_path):
    install, train = page_commands(toy_project)
    assert install == ["pip", "install", "-e", "projects/Toy"]
    # The same build of the project's pyproject.toml, installed into a folder instead of the environment.
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                           "--no-build-isolation", "--target", str(site), str(tmp_path / install[-1])],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (site / "toy_project" / "__init__.py").is_file()
    (dist_info,) = site.glob("*.dist-info")
    assert "[partreid.projects]\ntoy_project = toy_project" in (dist_info / "entry_points.txt").read_text()

    assert train[:3] == ["python", "tools/train_net.py", "--config-file"] and len(train) == 4
    out = tmp_path / "out"
    opts = tiny_synthvi_opts(str(tmp_path / "data"), str(out), **{"SOLVER.MAX_EPOCHS": 1, "TEST.EVAL_PERIOD": 0})
    proc = run_train_net(["--config-file", str(tmp_path / train[3]), *opts], extra_env={"PYTHONPATH": str(site)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [row for row in read_metrics(str(out / "metrics.json")) if "loss_toy" in row]
    assert len(rows) == 2 and all(row["loss_toy"] > 0 and "loss_id" in row for row in rows)


def test_the_page_project_not_installed_is_a_clear_error(toy_project, tmp_path, monkeypatch):
    # the package is importable but not installed: without its entry point it is not a project
    monkeypatch.syspath_prepend(str(tmp_path / "projects" / "Toy"))
    with pytest.raises(ConfigError, match=r"PROJECTS lists 'toy_project', which is not an installed partreid "
                                          r"project.*pip install -e projects/"):
        setup_cfg(str(tmp_path / "projects" / "Toy" / "configs" / "toy_synthvi.yaml"))
    imported = sys.modules.get("toy_project")
    assert imported is None or not imported.__file__.startswith(str(tmp_path))  # refused before any import

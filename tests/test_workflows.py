"""The GitHub workflows pass actionlint, whose action data knows which versions still run.

GitHub removes an action runtime (node20 in September 2026) and every workflow pinned
to an action on it stops starting; actionlint reports such pins, so the suite fails
before the next push does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ACTIONLINT = shutil.which("actionlint") or str(Path(sys.executable).with_name("actionlint"))


def actionlint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ACTIONLINT, "-no-color", "-oneline"], cwd=root, capture_output=True, text=True, check=False
    )


def test_workflows_pass_actionlint() -> None:
    done = actionlint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def workflow_repo(tmp_path: Path) -> Path:
    """An empty git repository: actionlint finds workflows through the repository root."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    return tmp_path


def test_actionlint_refuses_an_action_on_a_removed_runtime(workflow_repo: Path) -> None:
    """The check above can fail: the node20 checkout every workflow once used is reported."""
    (workflow_repo / ".github" / "workflows" / "old.yml").write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - uses: actions/checkout@v4\n"
    )
    done = actionlint(workflow_repo)
    assert done.returncode == 1
    assert 'runtime "node20" is deprecated' in done.stdout
    assert "actions/checkout@v4" in done.stdout

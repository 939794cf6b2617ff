"""Build contexts: what of a handler directory goes into the app image."""

from __future__ import annotations

from pathlib import Path

from builder.build.context import AppSource, app_context


def test_caches_vcs_data_and_dockerignored_files_stay_out(tmp_path: Path) -> None:
    app = tmp_path / "app"
    for path in (
        "handler.py",
        "lib/util.py",
        "lib/__pycache__/util.cpython-311.pyc",
        ".git/HEAD",
        ".venv/bin/python",
        "models/big.bin",
        "data/keep.txt",
        "notes.md",
        "requirements.txt",
    ):
        (app / path).parent.mkdir(parents=True, exist_ok=True)
        (app / path).write_text(path)
    (app / ".dockerignore").write_text("# big files\nmodels\n*.md\n!notes.md\n")
    source = AppSource(app, "handler.py", app / "requirements.txt")
    root = tmp_path / "ctx"
    app_context(root, source, "FROM x\n")
    copied = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert copied == [
        "Dockerfile",
        "app/.dockerignore",
        "app/data/keep.txt",
        "app/handler.py",
        "app/lib/util.py",
        "app/notes.md",
        "app/requirements.txt",
        "requirements.txt",
    ]

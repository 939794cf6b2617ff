"""What of a project goes into its image: Docker's .dockerignore rules, credentials left
out, symlinks kept as links, the project directory as the root.

The docker-marked test builds the same directory with plain BuildKit and with
`rpbuild image` and compares the files in /app: the engine is the judge of the rules.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder import engine
from builder.build.context import AppSource, ContextError, app_context
from builder.commands.cli import main
from tests.fixtures.docker_engine import STAND_IN, base_flags, rpbuild

PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"

# Every rule of Docker's matcher the issue found broken, plus case and anchoring.
DOCKERIGNORE = """\
# comments and blank lines are skipped

**/.env
./id_rsa
*.log
models/*
!models/keep.bin
/docs/*.md
!docs/README.md
**/*.tmp
cache/
./top.txt
"""

TREE = (
    "handler.py",
    ".env",
    "sub/.env",
    "id_rsa",
    "a.log",
    "B.LOG",
    "sub/b.log",
    "models/keep.bin",
    "models/big.bin",
    "docs/a.md",
    "docs/README.md",
    "docs/deep/c.md",
    "deep/a/b.tmp",
    "deep/a/kept.txt",
    "cache/blob",
    "top.txt",
    "sub/top.txt",
)


def make_tree(root: Path, paths: tuple[str, ...] = TREE) -> Path:
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(f"{path}\n")
    return root


def copied(root: Path) -> list[str]:
    """Everything under ROOT/app: files, directories and links (links not followed)."""
    app = root / "app"
    found = []
    for folder, dirs, files in os.walk(app):
        for name in dirs + files:
            found.append((Path(folder) / name).relative_to(app).as_posix())
    return sorted(found)


def context_of(project: Path, tmp_path: Path, include: tuple[str, ...] = ()) -> list[str]:
    source = AppSource(project, "handler.py", None, include)
    app_context(tmp_path / "ctx", source, "FROM x\n")
    return copied(tmp_path / "ctx")


def test_dockerignore_follows_dockers_rules(tmp_path: Path) -> None:
    project = make_tree(tmp_path / "project")
    (project / ".dockerignore").write_text(DOCKERIGNORE)
    assert context_of(project, tmp_path) == [
        ".dockerignore",
        "B.LOG",
        "deep",
        "deep/a",
        "deep/a/kept.txt",
        "docs",
        "docs/README.md",
        "docs/deep",
        "docs/deep/c.md",
        "handler.py",
        "models",
        "models/keep.bin",
        "sub",
        "sub/b.log",
        "sub/top.txt",
    ]


CREDENTIALS = {
    ".env": "TOKEN=abc\n",
    ".env.production": "TOKEN=abc\n",
    ".aws/credentials": "[default]\naws_secret_access_key=x\n",
    ".docker/config.json": '{"auths": {}}\n',
    ".ssh/id_ed25519": PRIVATE_KEY,
    "id_rsa": PRIVATE_KEY,
    "key.pem": PRIVATE_KEY,
    "deploy/tls.key": PRIVATE_KEY,
    "config/service-account.json": '{"private_key": "' + PRIVATE_KEY.replace("\n", "\\n") + '"}',
    ".npmrc": "//registry/:_authToken=x\n",
    ".pypirc": "[pypi]\npassword=x\n",
    ".netrc": "machine x login y password z\n",
    ".git-credentials": "https://u:p@host\n",
}


def test_credentials_are_left_out_by_name_or_content_and_reported_once(tmp_path: Path) -> None:
    project = make_tree(tmp_path / "project", ("handler.py", "ca.pem", "notes.key"))
    (project / "ca.pem").write_text(CERTIFICATE)
    for path, text in CREDENTIALS.items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(text)
    source = AppSource(project, "handler.py", None)
    report = app_context(tmp_path / "ctx", source, "FROM x\n")
    kept = [p for p in copied(tmp_path / "ctx") if (tmp_path / "ctx/app" / p).is_file()]
    assert kept == ["ca.pem", "handler.py", "notes.key"]
    assert sorted(report.left_out) == sorted(CREDENTIALS)


def test_include_keeps_a_credential_the_project_means_to_ship(tmp_path: Path) -> None:
    project = make_tree(tmp_path / "project", ("handler.py", ".env.example", "id_rsa"))
    files = context_of(project, tmp_path, include=(".env.example",))
    assert files == [".env.example", "handler.py"]


def test_an_included_file_still_obeys_dockerignore(tmp_path: Path) -> None:
    project = make_tree(tmp_path / "project", ("handler.py", ".env.example"))
    (project / ".dockerignore").write_text(".env*\n")
    assert context_of(project, tmp_path, include=(".env.example",)) == [
        ".dockerignore",
        "handler.py",
    ]


def test_symlinks_are_kept_as_links_and_never_followed_out(tmp_path: Path) -> None:
    outside = make_tree(tmp_path / "outside", ("secret.txt", "dir/inner.txt"))
    project = make_tree(tmp_path / "project", ("handler.py", "lib/util.py"))
    (project / "out.txt").symlink_to(outside / "secret.txt")
    (project / "outdir").symlink_to(outside / "dir")
    (project / "alias.py").symlink_to("handler.py")
    (project / "lib2").symlink_to("lib")
    root = tmp_path / "ctx"
    app_context(root, AppSource(project, "handler.py", None), "FROM x\n")
    app = root / "app"
    assert copied(root) == [
        "alias.py",
        "handler.py",
        "lib",
        "lib/util.py",
        "lib2",
        "out.txt",
        "outdir",
    ]
    for link in ("out.txt", "outdir", "alias.py", "lib2"):
        assert (app / link).is_symlink()
        assert os.readlink(app / link) == os.readlink(project / link)


@pytest.mark.parametrize("kind", ["parent", "self", "cycle"])
def test_a_symlink_loop_is_refused_before_anything_is_copied(tmp_path: Path, kind: str) -> None:
    project = make_tree(tmp_path / "project", ("handler.py", "sub/a.txt"))
    if kind == "parent":
        (project / "sub/loop").symlink_to("..")
    elif kind == "self":
        (project / "sub/loop").symlink_to("loop")
    else:
        (project / "sub/loop").symlink_to("other")
        (project / "sub/other").symlink_to("loop")
    root = tmp_path / "ctx"
    with pytest.raises(ContextError) as caught:
        app_context(root, AppSource(project, "handler.py", None), "FROM x\n")
    assert "sub/loop" in caught.value.format_message()
    assert ".dockerignore" in caught.value.format_message()
    assert not (root / "app").exists()


def test_a_dockerignored_symlink_loop_is_no_problem(tmp_path: Path) -> None:
    project = make_tree(tmp_path / "project", ("handler.py",))
    (project / "loop").symlink_to(".")
    (project / ".dockerignore").write_text("loop\n")
    assert context_of(project, tmp_path) == [".dockerignore", "handler.py"]


def test_a_handler_outside_the_project_is_refused_with_the_fix(tmp_path: Path) -> None:
    home = make_tree(tmp_path / "home", ("handler.py", ".ssh/id_ed25519"))
    project = make_tree(tmp_path / "project", ("requirements.txt",))
    result = CliRunner().invoke(
        main,
        ["image", str(project), "--handler", str(home / "handler.py"), "--dry-run"],
    )
    assert result.exit_code == 2, result.output
    assert "--handler" in result.output
    assert "inside" in result.output


def _list_app(builder: engine.Builder, image: str) -> list[str]:
    run = [builder.client, "run", "--rm", "--network", "none", "--entrypoint", "find", image]
    done = subprocess.run(
        [*run, "/app", "-mindepth", "1", "-printf", "%P %y %l\\n"],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(done.stdout.splitlines())


@pytest.mark.docker
def test_rpbuild_copies_exactly_what_plain_docker_build_copies(
    docker_builder: engine.Builder, gpu_base: object, tmp_path: Path
) -> None:
    project = make_tree(tmp_path / "project")
    (project / ".dockerignore").write_text(DOCKERIGNORE + "!cache/keep\n")
    (project / "alias.py").symlink_to("handler.py")
    (project / "outside").symlink_to("/etc/hostname")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {STAND_IN}\nCOPY . /app/\n")
    name = f"local/rpbuild-context-{uuid.uuid4().hex[:12]}"
    plain, ours = f"{name}:docker", f"{name}:rpbuild"
    env = {**os.environ, **dict(docker_builder.env)}
    try:
        subprocess.run(
            [*docker_builder.build_argv, "-q", "-f", str(dockerfile), "-t", plain, str(project)],
            check=True,
            env=env,
            capture_output=True,
        )
        code, _, output = rpbuild("image", str(project), *base_flags(), "-t", ours, "--no-verify")
        assert code == 0, output
        expected = _list_app(docker_builder, plain)
        assert "sub/b.log f " in expected and "B.LOG f " in expected  # the engine's view
        assert _list_app(docker_builder, ours) == expected
    finally:
        subprocess.run([docker_builder.client, "rmi", "-f", plain, ours], capture_output=True)

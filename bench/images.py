"""Image size and build times: rpbuild against a plain hand-written Dockerfile, one run.

    .venv/bin/python bench/images.py

Both build the seed handler (tests/data/seed_handler.py) on the stand-in base that
scripts/setup makes (local/debian:bookworm). The plain Dockerfile is what a user
writes without rpbuild: Python's venv, RunPod's SDK from PyPI, the handler; built with
``DOCKER_BUILDKIT=1 docker build``. rpbuild builds its base and app images. Each side:
cold (``--no-cache``), warm (nothing changed), handler-only change. rpbuild's own
overhead is its wall time minus the time spent inside its ``docker build`` calls
(render, context, inspect, verify), the least of three handler-only rebuilds. Writes
bench/results/images.md and images.json.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from click.testing import CliRunner  # noqa: E402

from builder import engine  # noqa: E402
from builder.commands.cli import main as rpbuild  # noqa: E402

STAND_IN = "local/debian:bookworm"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
SEED = ROOT / "tests" / "data" / "seed_handler.py"
RESULTS = ROOT / "bench" / "results"
CLASSIC = "/usr/bin/docker"
TAG = "rpbuild-bench/seed"
OVERHEAD_TARGET_S = 1.5
OVERHEAD_ROUNDS = 3
"""Handler-only rebuilds for the overhead figure; the shared machine's load only adds time,
so the least of them is the closest to rpbuild's own cost."""

PLAIN_DOCKERFILE = """\
FROM {base}
RUN apt-get update && apt-get install -y --no-install-recommends python3.11 python3.11-venv \\
    && rm -rf /var/lib/apt/lists/*
RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN --mount=type=secret,id=ca_bundle \\
    PIP_CERT=/run/secrets/ca_bundle pip install --no-cache-dir runpod==1.12.0
WORKDIR /app
COPY requirements.txt /app/requirements.txt
RUN --mount=type=secret,id=ca_bundle \\
    PIP_CERT=/run/secrets/ca_bundle pip install --no-cache-dir -r /app/requirements.txt
COPY . /app
CMD ["python", "/app/handler.py"]
"""


def _app(root: Path) -> Path:
    app = root / "seed"
    app.mkdir()
    shutil.copy(SEED, app / "handler.py")
    (app / "requirements.txt").write_text("# nothing beyond the runtime\n")
    (app / "test_input.json").write_text('{"input": {"prompt": "hi"}}\n')
    return app


def _touch_handler(app: Path) -> None:
    handler = app / "handler.py"
    handler.write_text(handler.read_text() + f"\n# changed at {time.time_ns()}\n")


def _size(ref: str) -> int:
    done = subprocess.run(
        [CLASSIC, "image", "inspect", "--format", "{{.Size}}", ref],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.strip())


def plain_build(app: Path, no_cache: bool = False) -> float:
    """``docker build`` of the hand-written Dockerfile; seconds."""
    argv = [CLASSIC, "build", "-q", "-t", f"{TAG}:plain", "-f", str(app.parent / "Dockerfile")]
    argv += ["--secret", f"id=ca_bundle,src={CA_BUNDLE}", *(["--no-cache"] if no_cache else [])]
    start = time.monotonic()
    done = subprocess.run(
        [*argv, str(app)],
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
    )
    if done.returncode != 0:
        raise SystemExit(f"plain build failed:\n{done.stderr[-2000:]}")
    return time.monotonic() - start


@contextmanager
def _timing_builds(spent: list[float]) -> Iterator[None]:
    """Adds the seconds of each ``docker build`` rpbuild runs to ``spent``."""
    real: Callable[..., str] = engine.build

    def timed(*args: Any, **kwargs: Any) -> str:
        start = time.monotonic()
        try:
            return real(*args, **kwargs)
        finally:
            spent.append(time.monotonic() - start)

    engine.build = timed  # type: ignore[assignment]
    try:
        yield
    finally:
        engine.build = real  # type: ignore[assignment]


def rpbuild_build(app: Path, *flags: str) -> tuple[float, float, dict[str, Any]]:
    """``rpbuild image``; (seconds in all, seconds inside docker build, its JSON result)."""
    argv = ["image", str(app), "--cuda", "12.1", "--python", "3.11", "--base-image", STAND_IN]
    argv += ["--ca-bundle", str(CA_BUNDLE), "-t", f"{TAG}:rpbuild", *flags, "--json"]
    spent: list[float] = []
    start = time.monotonic()
    with _timing_builds(spent):
        result = CliRunner().invoke(rpbuild, argv)
    total = time.monotonic() - start
    if result.exit_code != 0:
        raise SystemExit(f"rpbuild failed:\n{result.output[-3000:]}")
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    return total, sum(spent), payload


def main() -> int:
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="rpbuild-bench-") as tmp:
        app = _app(Path(tmp))
        (app.parent / "Dockerfile").write_text(PLAIN_DOCKERFILE.format(base=STAND_IN))
        times: dict[str, dict[str, float]] = {"plain": {}, "rpbuild": {}, "rpbuild-docker": {}}
        for label, no_cache, change in (
            ("cold", True, False),
            ("warm", False, False),
            ("handler-only", False, True),
        ):
            if change:
                _touch_handler(app)
            times["plain"][label] = plain_build(app, no_cache)
            total, inside, _ = rpbuild_build(app, *(["--no-cache"] if no_cache else []))
            times["rpbuild"][label], times["rpbuild-docker"][label] = total, inside
            plain_s = times["plain"][label]
            print(f"{label}: plain {plain_s:.1f} s, rpbuild {total:.1f} s", flush=True)
        overheads = []
        for _ in range(OVERHEAD_ROUNDS):
            _touch_handler(app)
            total, inside, _ = rpbuild_build(app)
            overheads.append(total - inside)
        overhead = min(overheads)
        sizes = {"plain": _size(f"{TAG}:plain")}
        for flavor in ("base", "runtime", "devel"):
            _, _, payload = rpbuild_build(app, "--flavor", flavor)
            size = sizes[f"rpbuild --flavor {flavor}"] = payload["images"][-1]["size"]
            print(f"flavor {flavor}: {size / 1e6:.1f} MB", flush=True)
    figures = {
        "times_s": times,
        "sizes_bytes": sizes,
        "overhead_s": overhead,
        "overhead_rounds_s": overheads,
        "load_average": os.getloadavg()[0],
    }
    _write(figures)
    ok = overhead <= OVERHEAD_TARGET_S and all(
        size <= sizes["plain"] for name, size in sizes.items() if name != "plain"
    )
    return 0 if ok else 1


def _write(figures: dict[str, Any]) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    times, sizes, overhead = figures["times_s"], figures["sizes_bytes"], figures["overhead_s"]
    plain = sizes["plain"]
    lines = [
        "# Seed image: rpbuild vs a plain Dockerfile",
        "",
        f"{when}; {machine}; load average {figures['load_average']:.1f} at the end;",
        "command: `.venv/bin/python bench/images.py`; one run, on a shared engine.",
        f"Base: the stand-in {STAND_IN} (no registry can be reached here), so every flavor",
        "starts FROM the same image: the flavor changes only labels and tags on it.",
        "",
        "| build | plain `docker build` | rpbuild | of which inside docker build |",
        "|---|---|---|---|",
        *(
            f"| {label} | {times['plain'][label]:.1f} s | {times['rpbuild'][label]:.1f} s "
            f"| {times['rpbuild-docker'][label]:.1f} s |"
            for label in times["plain"]
        ),
        "",
        "rpbuild's own overhead on a handler-only rebuild (render, context, inspect, verify; "
        f"least of {OVERHEAD_ROUNDS}: "
        f"{', '.join(f'{s:.2f}' for s in figures['overhead_rounds_s'])} s): "
        f"**{overhead:.2f} s** (target at most {OVERHEAD_TARGET_S} s: "
        f"{'ok' if overhead <= OVERHEAD_TARGET_S else 'MISSED'}).",
        "",
        "| image | size | vs plain |",
        "|---|---|---|",
        *(
            f"| {name} | {size / 1e6:.1f} MB | {size / plain:.2f}x |"
            for name, size in sizes.items()
        ),
        "",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "images.md").write_text("\n".join(lines))
    data = {"when": when, "machine": machine, **figures}
    (RESULTS / "images.json").write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())

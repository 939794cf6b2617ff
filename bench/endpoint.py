"""The seed example behind `rpbuild up`, with 1, 2 and 4 workers.

    .venv/bin/python bench/endpoint.py [--image TAG] [--jobs-per-worker N]

Builds the seed's image on the stand-in base (as the tests do) unless --image
is given, then for each worker count starts an endpoint with exactly that many
workers (containers of the image; then local rpworker processes of the same
handler, for comparison), waits until all are ready, sends a burst of
``N x workers`` /runsync requests at once and measures jobs/s (burst start to
last answer), latency percentiles as the client sees them, the queue delay the
endpoint reports, and each worker's cold start (launch to first job take).
Writes bench/results/endpoint.md and endpoint.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from builder.endpoint.launchers import ContainerLauncher, Launcher, ProcessLauncher  # noqa: E402
from builder.endpoint.pool import ScalerSettings  # noqa: E402
from builder.endpoint.server import Endpoint  # noqa: E402

SEED = ROOT / "tests" / "data" / "seed_handler.py"
SEED_TAG = "rpbuild-bench/seed:latest"
STAND_IN = ["--cuda", "12.1", "--python", "3.11", "--base-image", "local/debian:bookworm"]
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
RESULTS = ROOT / "bench" / "results"
WORKERS = (1, 2, 4)
NO_GPU = {"RPWORKER_GPU_CHECK": "off"}


def build_seed_image(app: Path) -> str:
    (app / "handler.py").write_text(SEED.read_text())
    (app / "test_input.json").write_text('{"input": {"prompt": "hi"}}')
    (app / "requirements.txt").write_text("")
    ca = ["--ca-bundle", str(CA_BUNDLE)] if CA_BUNDLE.is_file() else []
    rpbuild = str(ROOT / ".venv" / "bin" / "rpbuild")
    subprocess.run([rpbuild, "-q", "image", str(app), *STAND_IN, *ca, "-t", SEED_TAG], check=True)
    return SEED_TAG


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(launcher: Launcher, workers: int, jobs: int) -> dict[str, Any]:
    settings = ScalerSettings(min_workers=workers, max_workers=workers)
    async with (
        Endpoint(launcher, scaler=settings, event=lambda _: None) as endpoint,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session,
    ):
        pool = endpoint.pool
        while sum(w.ready is not None for w in pool.workers.values()) < workers:
            await asyncio.sleep(0.05)
        cold = [w.cold_start_s for w in pool.workers.values() if w.cold_start_s is not None]
        url = f"{endpoint.api_url}/{endpoint.endpoint_id}/runsync"

        async def one() -> tuple[float, dict[str, Any]]:
            sent = time.monotonic()
            async with session.post(url, json={"input": {"prompt": "bench"}}) as response:
                body = await response.json()
            assert body["status"] == "COMPLETED", body
            return time.monotonic() - sent, body

        start = time.monotonic()
        answers = await asyncio.gather(*(one() for _ in range(jobs)))
        wall = time.monotonic() - start
    latencies = [seconds for seconds, _ in answers]
    delays = [body["delayTime"] / 1000 for _, body in answers]
    return {
        "workers": workers,
        "jobs": jobs,
        "jobs_per_s": jobs / wall,
        "latency_p50_s": percentile(latencies, 0.5),
        "latency_p99_s": percentile(latencies, 0.99),
        "queue_delay_p50_s": percentile(delays, 0.5),
        "cold_start_median_s": statistics.median(cold),
        "cold_start_max_s": max(cold),
    }


def _row(kind: str, run: dict[str, Any]) -> str:
    return (
        f"| {kind} | {run['workers']} | {run['jobs']} | {run['jobs_per_s']:.2f} | "
        f"{run['latency_p50_s']:.2f} | {run['latency_p99_s']:.2f} | "
        f"{run['queue_delay_p50_s']:.2f} | {run['cold_start_median_s']:.2f} "
        f"(max {run['cold_start_max_s']:.2f}) |"
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", help="a worker image of the seed handler [built if absent]")
    parser.add_argument("--jobs-per-worker", type=int, default=6)
    args = parser.parse_args()
    header = (
        "| workers as | workers | jobs | jobs/s | latency p50 s | latency p99 s | "
        "queue delay p50 s | cold start median s |\n|---|---|---|---|---|---|---|---|"
    )
    print(header, flush=True)
    runs: dict[str, list[dict[str, Any]]] = {"containers": [], "rpworker processes": []}
    with tempfile.TemporaryDirectory(prefix="rpbuild-bench-") as tmp:
        app = Path(tmp) / "seed"
        app.mkdir()
        image = args.image or build_seed_image(app)
        if args.image:
            (app / "handler.py").write_text(SEED.read_text())
        launchers: dict[str, Launcher] = {
            "containers": ContainerLauncher(image, f"rpbuild-bench-{os.getpid()}", None, NO_GPU),
            "rpworker processes": ProcessLauncher(app, "handler.py", NO_GPU),
        }
        for kind, launcher in launchers.items():
            for workers in WORKERS:
                run = await measure(launcher, workers, args.jobs_per_worker * workers)
                runs[kind].append(run)
                print(_row(kind, run), flush=True)
    _write(header, runs, image)
    return 0


def _write(header: str, runs: dict[str, list[dict[str, Any]]], image: str) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "# The seed example behind `rpbuild up`",
        "",
        f"{when}; {machine}; command: `.venv/bin/python bench/endpoint.py`; image {image}",
        "(the seed handler on the stand-in base, no GPU).",
        "",
        "Each job streams five chunks one second apart (about 5 s of work): the ideal",
        "rate is workers / 5 jobs/s. A burst of 6 jobs per worker is sent at once as",
        "/runsync requests; latency is each request's round trip (queue wait included;",
        "with so few jobs p99 is the slowest), queue delay is the endpoint's delayTime,",
        "cold start is launch to the worker's first job take.",
        "",
        header,
        *(_row(kind, run) for kind, rows in runs.items() for run in rows),
        "",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "endpoint.md").write_text("\n".join(lines))
    data = {"when": when, "machine": machine, "image": image, "runs": runs}
    (RESULTS / "endpoint.json").write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""rpworker against the reference SDK (runpod 1.12.0), side by side, in one run.

    .venv/bin/python bench/run.py

Both runtimes run the same handler file (bench/handlers.py) as subprocesses
against the same platform emulator (builder/endpoint/emulator.py) on 127.0.0.1, one
scenario at a time. Prints each figure with the ratio and the target, and
writes bench/results/latest.md and latest.json. Each figure is the best of
three alternating runs (local API: 2 s rounds) per runtime: the machine is
shared. Needs scripts/setup (the SDK venv in .cache/venvs/runpod); builds a
venv for our wheel in .cache/venvs/.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from builder.build import runtime_wheel  # noqa: E402
from builder.endpoint.emulator import Emulator  # noqa: E402

HANDLERS = str(ROOT / "bench" / "handlers.py")
SDK_VENV = ROOT / ".cache" / "venvs" / "runpod"
OURS_VENV = ROOT / ".cache" / "venvs" / "rpworker-bench"
RESULTS = ROOT / "bench" / "results"
NOT_RUNTIME = {"pip", "setuptools", "wheel"}
API_ROUNDS = 3
WORKER_ROUNDS = 3


@dataclass
class Runtime:
    name: str
    argv: list[str]


OURS = Runtime("rpworker", [str(ROOT / ".venv" / "bin" / "rpworker"), HANDLERS])
SDK = Runtime("runpod 1.12.0", [str(SDK_VENV / "bin" / "python"), HANDLERS])


@dataclass
class Scenario:
    key: str
    title: str
    handler: str
    concurrency: int
    jobs: dict[str, int]


SCENARIOS = [
    Scenario("echo_c1", "echo, concurrency 1", "echo", 1, {OURS.name: 400, SDK.name: 4}),
    Scenario("echo_c32", "echo, concurrency 32", "echo", 32, {OURS.name: 3000, SDK.name: 160}),
    Scenario(
        "sleep_c16", "50 ms async sleep, concurrency 16", "sleep_50ms", 16,
        {OURS.name: 1500, SDK.name: 100},
    ),
    Scenario(
        "stream_c8", "async generator stream (5 chunks, 10 ms), concurrency 8", "stream_5", 8,
        {OURS.name: 500, SDK.name: 50},
    ),
    Scenario(
        "sync_c4", "20 sync 0.2 s jobs, concurrency 4", "sync_sleep_200ms", 4,
        {OURS.name: 20, SDK.name: 20},
    ),
]  # fmt: skip


@dataclass
class Run:
    jobs: int
    seconds: float
    chunks: int
    cold_start_s: float
    peak_pss_mb: float


def _tree_pss_kb(pid: int) -> int:
    """PSS of a process and its descendants (the SDK pings from a child process)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


async def _sample_pss(pid: int, peak: list[int]) -> None:
    while True:
        peak[0] = max(peak[0], _tree_pss_kb(pid))
        await asyncio.sleep(0.05)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()


def _worker_env(emulator: Emulator, scenario: Scenario) -> dict[str, str]:
    return {
        **os.environ,
        **emulator.env(),
        "BENCH_HANDLER": scenario.handler,
        "BENCH_CONCURRENCY": str(scenario.concurrency),
        "RUNPOD_LOG_LEVEL": "ERROR",
        # The SDK's startup checks would probe a GPU and connect to 8.8.8.8.
        "RUNPOD_SKIP_AUTO_SYSTEM_CHECKS": "true",
        "RUNPOD_SKIP_GPU_CHECK": "true",
        "RPWORKER_GPU_CHECK": "off",
    }


async def run_scenario(runtime: Runtime, scenario: Scenario) -> Run:
    emulator = Emulator(long_poll_s=1.0)
    await emulator.serve()
    count = scenario.jobs[runtime.name]
    await emulator.submit(*range(count))
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *runtime.argv,
        env=_worker_env(emulator, scenario),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = [0]
    sampler = asyncio.create_task(_sample_pss(process.pid, peak))
    try:
        await emulator.wait_results(count, timeout=120)
    finally:
        sampler.cancel()
        await _stop(process)
        await emulator.close()
    first_take = emulator.take_times[0]
    last_result = max(post.at for post in emulator.posts if post.route == "done")
    return Run(
        jobs=count,
        seconds=last_result - first_take,
        chunks=sum(len(chunks) for chunks in emulator.chunks.values()),
        cold_start_s=first_take - started,
        peak_pss_mb=peak[0] / 1024,
    )


async def _api_rate(runtime: Runtime, concurrency: int, seconds: float = 2.0) -> float:
    """Completed /runsync requests per second against ``--rp_serve_api``.

    The load comes from raw keep-alive HTTP/1.1 connections, which cost far
    less CPU than a full client: with aiohttp's client the load generator, not
    the server, was the limit on these 2-core machines.
    """
    port = 18000 + concurrency + (0 if runtime is OURS else 500)
    env = {**os.environ, "BENCH_HANDLER": "echo", "RUNPOD_LOG_LEVEL": "ERROR"}
    env.pop("RUNPOD_WEBHOOK_GET_JOB", None)
    args = ["--rp_serve_api", "--rp_api_host", "127.0.0.1", "--rp_api_port", str(port)]
    if runtime is OURS:  # the SDK runs its default, its best (see bench/README.md)
        args += ["--rp_api_concurrency", str(concurrency)]
    process = await asyncio.create_subprocess_exec(
        *runtime.argv,
        *args,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await _wait_listening(port, process)
        warm = time.monotonic() + 0.3
        await asyncio.gather(*(_runsync_loop(port, warm) for _ in range(concurrency)))
        start = time.monotonic()
        counts = await asyncio.gather(
            *(_runsync_loop(port, start + seconds) for _ in range(concurrency))
        )
        return sum(counts) / (time.monotonic() - start)
    finally:
        await _stop(process)


_BODY = b'{"input": {"n": 1}}'
_REQUEST = (
    b"POST /runsync HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)


class _RunsyncClient(asyncio.Protocol):
    """One keep-alive connection sending ``/runsync`` back to back until ``until``.

    A bare protocol, not asyncio streams: it costs the load generator about
    a third of the CPU per request, which the server under test gets instead.
    """

    def __init__(self, until: float) -> None:
        self.until = until
        self.completed = 0
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(_REQUEST)

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._buffer += data
        while (head_end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head = self._buffer[:head_end].lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
            end = head_end + 4 + length
            if len(self._buffer) < end:
                return
            body = self._buffer[head_end + 4 : end]
            self.completed += head.startswith(b"http/1.1 200") and b"COMPLETED" in body
            self._buffer = self._buffer[end:]
            if time.monotonic() >= self.until:
                self._transport.close()
                return
            self._transport.write(_REQUEST)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(self.completed)


async def _runsync_loop(port: int, until: float) -> int:
    """Requests on one connection until ``until``; how many completed."""
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: _RunsyncClient(until), "127.0.0.1", port)
    return await client.closed


async def _wait_listening(port: int, process: asyncio.subprocess.Process) -> None:
    for _ in range(300):
        if process.returncode is not None:
            raise RuntimeError(f"the local API on port {port} exited with {process.returncode}")
        try:
            if await _runsync_loop(port, time.monotonic() + 0.05):
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the local API on port {port} did not answer within 30 s")


def _installed(venv: Path) -> tuple[int, float]:
    """Distributions and MB installed in a venv, not counting pip/setuptools/wheel."""
    (site,) = venv.glob("lib/python3*/site-packages")
    dists = 0
    size = 0
    for info in site.glob("*.dist-info"):
        if info.name.split("-")[0].lower() in NOT_RUNTIME:
            continue
        dists += 1
        for line in (info / "RECORD").read_text().splitlines():
            path = site / line.split(",")[0]
            if path.is_file():
                size += path.stat().st_size
    return dists, size / 1e6


def _quiet(argv: list[str]) -> None:
    """Run pip, showing its output only when it fails (it warns about the machine's config)."""
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"failed: {' '.join(argv)}")


def _build_ours() -> Path:
    """A fresh venv for our runtime as images install it: the wheel plus requirements."""
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(OURS_VENV)], check=True)
    pip = [str(OURS_VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
    _quiet([*pip, "-r", str(ROOT / "rpworker" / "requirements.txt")])
    with tempfile.TemporaryDirectory() as wheels:
        wheel = Path(wheels) / runtime_wheel.WHEEL_NAME
        wheel.write_bytes(runtime_wheel.wheel_bytes(ROOT / "rpworker"))
        _quiet([*pip, "--no-deps", str(wheel)])
    return OURS_VENV


@dataclass
class Figure:
    title: str
    unit: str
    ours: float
    sdk: float
    target: str
    met: bool

    @property
    def ratio(self) -> float:
        return self.ours / self.sdk if self.sdk else float("inf")


def _line(figure: Figure) -> str:
    verdict = "ok" if figure.met else "MISSED"
    return (
        f"| {figure.title} | {figure.ours:.4g} {figure.unit} | {figure.sdk:.4g} {figure.unit} "
        f"| {figure.ratio:.3g}x | {figure.target} | {verdict} |"
    )


def _rate_figure(title: str, ours: float, sdk: float, at_least: float) -> Figure:
    return Figure(title, "jobs/s", ours, sdk, f">= {at_least:g}x", ours >= at_least * sdk)


async def main() -> int:
    if not (SDK_VENV / "bin" / "python").exists():
        print("the reference SDK venv is missing: run scripts/setup", file=sys.stderr)
        return 2
    figures: list[Figure] = []

    def report(figure: Figure) -> None:
        figures.append(figure)
        print(_line(figure), flush=True)

    print("| figure | rpworker | runpod 1.12.0 | ratio | target | |\n|---|---|---|---|---|---|")
    runs: dict[str, dict[str, Run]] = {}
    every: dict[str, list[Run]] = {OURS.name: [], SDK.name: []}
    for scenario in SCENARIOS:
        tries: dict[str, list[Run]] = {OURS.name: [], SDK.name: []}
        for _ in range(WORKER_ROUNDS):  # alternating, best of each: the machine is shared
            for runtime in (OURS, SDK):
                tries[runtime.name].append(await run_scenario(runtime, scenario))
        for name, made in tries.items():
            every[name] += made
        runs[scenario.key] = {
            name: min(made, key=lambda r: r.seconds) for name, made in tries.items()
        }
        ours, sdk = runs[scenario.key][OURS.name], runs[scenario.key][SDK.name]
        if scenario.key == "sync_c4":
            report(Figure(scenario.title + ", wall", "s", ours.seconds, sdk.seconds, "<= 1.3 s",
                          ours.seconds <= 1.3))  # fmt: skip
            continue
        rate_ours, rate_sdk = ours.jobs / ours.seconds, sdk.jobs / sdk.seconds
        target = {"echo_c1": 100, "echo_c32": 20, "sleep_c16": 15, "stream_c8": 10}[scenario.key]
        report(_rate_figure(scenario.title, rate_ours, rate_sdk, target))
        if scenario.key == "stream_c8":
            report(Figure("  stream chunks/s", "chunks/s", ours.chunks / ours.seconds,
                          sdk.chunks / sdk.seconds, "(follows jobs/s)", True))  # fmt: skip
    cold = {name: statistics.median(r.cold_start_s for r in made) for name, made in every.items()}
    report(Figure("cold start to first job take (median)", "s", cold[OURS.name], cold[SDK.name],
                  "<= 0.25x", cold[OURS.name] <= 0.25 * cold[SDK.name]))  # fmt: skip
    pss = {name: max(r.peak_pss_mb for r in made) for name, made in every.items()}
    report(Figure("peak PSS (worker process tree)", "MB", pss[OURS.name], pss[SDK.name],
                  "<= 0.5x", pss[OURS.name] <= 0.5 * pss[SDK.name]))  # fmt: skip
    for concurrency in (1, 32):
        rates: dict[str, list[float]] = {OURS.name: [], SDK.name: []}
        for _ in range(API_ROUNDS):  # alternating, best of each: the machine is shared
            for runtime in (OURS, SDK):
                rates[runtime.name].append(await _api_rate(runtime, concurrency))
        ours_rate, sdk_rate = max(rates[OURS.name]), max(rates[SDK.name])
        report(Figure(f"local API /runsync, concurrency {concurrency}", "req/s", ours_rate,
                      sdk_rate, ">= 2x", ours_rate >= 2 * sdk_rate))  # fmt: skip
    dists_ours, mb_ours = _installed(_build_ours())
    dists_sdk, mb_sdk = _installed(SDK_VENV)
    report(Figure("installed size, runtime + dependencies", "MB", mb_ours, mb_sdk, "<= 0.1x",
                  mb_ours <= 0.1 * mb_sdk))  # fmt: skip
    report(Figure("  distributions installed", "", dists_ours, dists_sdk, "", True))
    _write(figures, runs)
    return 0


def _write(figures: list[Figure], runs: dict[str, dict[str, Run]]) -> None:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average at the end {load} (1, 5, 15 min)"
    )
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "# rpworker vs runpod 1.12.0",
        "",
        f"{when}; {machine}; command: `.venv/bin/python bench/run.py`.",
        "Same handlers (bench/handlers.py), same platform emulator, one invocation.",
        f"Worker figures: best of {WORKER_ROUNDS} alternating runs, first job take to last",
        "result; cold start: process start to first take (median of every run); peak PSS:",
        f"the highest of every run. Local API: best of {API_ROUNDS} alternating 2 s rounds,",
        "load from raw keep-alive HTTP/1.1 connections.",
        "",
        "| figure | rpworker | runpod 1.12.0 | ratio | target | |",
        "|---|---|---|---|---|---|",
        *(_line(figure) for figure in figures),
        "",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.md").write_text("\n".join(lines))
    data: dict[str, Any] = {
        "when": when,
        "machine": machine,
        "figures": [{**vars(f), "ratio": f.ratio} for f in figures],
        "runs": {key: {name: vars(r) for name, r in pair.items()} for key, pair in runs.items()},
    }
    (RESULTS / "latest.json").write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

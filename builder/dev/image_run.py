"""Run a built image as the platform would: on one job, or its own GPU check.

Test mode (``--test_input``) prints one ``{"chunk": ...}`` line per streamed value
and the result body last. The local API mode serves the image's API on the host
network and sends the job through ``/run`` and ``/stream`` like a client's
request, which also exercises the HTTP side of the image. The GPU check is the
runtime's own (``rpworker gpu-check``), so a host is judged by exactly the code
that will judge it in production.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder import engine
from builder.build.options import load_project, resolve_options
from builder.errors import InputError, RpbuildError, Source
from builder.output import Output
from builder.pipeline import plan_image
from builder.registry.pinning import Pinning

FINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})


class ImageTestError(RpbuildError):
    """The image could not run the input at all (not a handler failure)."""


@dataclass
class Outcome:
    status: str = "FAILED"
    chunks: list[Any] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)

    def reported(self) -> dict[str, Any]:
        """What the job produced: its ``output`` and/or ``error``."""
        return {key: self.result[key] for key in ("output", "error") if key in self.result}

    def as_json(self, image: str, mode: str) -> dict[str, Any]:
        """``ok`` is the command's verdict: only a completed job passes."""
        summary = {"ok": self.status == "COMPLETED", "image": image, "mode": mode}
        return summary | {"status": self.status, "chunks": self.chunks} | self.reported()


def project_image(directory: Path, flags: Mapping[str, Any]) -> str:
    """The tag `rpbuild image` gives the app image of the project in ``directory`` when
    given ``flags`` (the command line's options, by field name)."""
    resolved = resolve_options(directory, flags, load_project(directory))
    app = plan_image(resolved, Pinning()).app
    if app is None:
        raise InputError(
            f"{directory} has no handler: name the IMAGE to test "
            "(or the handler with --handler, as for `rpbuild image`)"
        )
    return app.tags[0]


def read_input(path: Path) -> dict[str, Any]:
    """A job file like test_input.json: a JSON object with an ``input`` key."""
    try:
        job = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: {exc}", Source("--input")) from exc
    if not isinstance(job, dict) or "input" not in job:
        raise InputError(
            f'{path} must hold a JSON object with an "input" key, e.g. {{"input": {{...}}}}',
            Source("--input"),
        )
    return job


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _TestModeReader:
    """Sorts the lines of the image's test mode: chunks, the result body, logs."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.outcome = Outcome()
        self.final: dict[str, Any] | None = None
        self.tail: list[str] = []

    def __call__(self, line: str) -> None:
        """A line of the container's stdout, where the chunks and the result are."""
        record = _json_object(line)
        if record is not None and set(record) == {"chunk"}:
            self.outcome.chunks.append(record["chunk"])
            self.out.chunk(record["chunk"])
        elif record is not None and set(record) <= {"output", "error", "stopPod"}:
            self.final = record
        else:
            self.log(line)

    def log(self, line: str) -> None:
        """A line of the container's stderr, or stdout that is not a record."""
        self.tail = [*self.tail[-19:], line]
        self.out.detail(line)


def run_test_mode(image: str, job: dict[str, Any] | None, out: Output) -> Outcome:
    """``docker run --rm IMAGE --test_input JSON``; chunks shown as the lines arrive."""
    reader = _TestModeReader(out)
    args = ["--test_input", json.dumps(job)] if job is not None else []
    status = engine.run_container(image, args, reader, errors=reader.log)
    if reader.final is None:
        raise ImageTestError(
            f"{image} exited with status {status} without a result; its last lines:\n"
            + "\n".join(reader.tail)
        )
    reader.outcome.result = reader.final
    reader.outcome.status = "FAILED" if reader.final.get("error") else "COMPLETED"
    return reader.outcome


def _json_object(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class _Api:
    """The container's local API on the host network (loopback only, never a bridge IP)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def call(self, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            f"{self.base}{path}", data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return dict(json.load(answer))

    def wait_ready(self, container: engine.Container, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not container.running():
                raise ImageTestError(
                    "the image's local API exited before answering; its last lines:\n"
                    + "\n".join(container.log_tail())
                )
            try:
                self.call("/health")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise ImageTestError(f"the image's local API did not answer within {timeout:.0f} s")

    def stream(self, job_id: str) -> Iterator[tuple[str, list[Any]]]:
        """(status, new chunks) per /stream call until the job is final and drained."""
        while True:
            answer = self.call(f"/stream/{job_id}")
            chunks = [item.get("output") for item in answer.get("stream", [])]
            yield answer["status"], chunks
            if answer["status"] in FINAL_STATUSES and not chunks:
                return


def run_api_mode(
    image: str, job: dict[str, Any], out: Output, ready_timeout: float = 120
) -> Outcome:
    """Start the image's local API, send /run, follow /stream, read the final /status."""
    port = _free_port()
    flags = ["--rp_serve_api", "--rp_api_host", "127.0.0.1", "--rp_api_port", str(port)]
    with engine.serving_container(image, flags) as container:
        api = _Api(port)
        api.wait_ready(container, ready_timeout)
        job_id = api.call("/run", job)["id"]
        out.detail(f"job {job_id} queued on {api.base}")
        outcome = Outcome()
        for status, chunks in api.stream(job_id):
            out.progress("job", status.lower().replace("_", " "))
            for chunk in chunks:
                outcome.chunks.append(chunk)
                out.chunk(chunk)
        outcome.result = api.call(f"/status/{job_id}")
        outcome.status = outcome.result["status"]
        out.done("job", outcome.status.lower().replace("_", " "))
    return outcome


_NOT_FOUND = 127
"""The container's status when its entrypoint does not exist."""


def run_gpu_check(image: str, check_args: Sequence[str], out: Output) -> int:
    """Run the check in IMAGE with every GPU; its output streams through, its exit status
    is returned."""
    options = ["--gpus", "all", "--entrypoint", "rpworker"]
    status = engine.run_container(image, ["gpu-check", *check_args], out.line, options)
    if status == _NOT_FOUND:
        raise RpbuildError(
            f"{image} has no `rpworker` command: check an image built with `rpbuild image`"
        )
    return status

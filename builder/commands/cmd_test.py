"""`rpbuild test IMAGE`: run a built image on one input, as the platform would.

Without ``--api`` the image runs its test mode (``--test_input``), which prints
one ``{"chunk": ...}`` line per streamed value and the result body last. With
``--api`` the image serves its local API on the host network and the input
goes through ``/run`` and ``/stream`` like a client's request, which also
exercises the HTTP side of the image.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from builder import engine, output
from builder.build import config
from builder.build import image as image_lib
from builder.build.spec import ImageOptions
from builder.errors import RpbuildError

FINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})
DEFAULT_INPUT = Path("test_input.json")


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
        summary = {"image": image, "mode": mode, "status": self.status, "chunks": self.chunks}
        return summary | self.reported()


def project_image(directory: Path) -> str:
    """The tag `rpbuild image` gives the app image of the project in ``directory``."""
    app = image_lib.plan(config.with_project_defaults(ImageOptions(directory=directory))).app
    if app is None:
        raise click.UsageError(f"{directory} has no handler: name the IMAGE to test")
    return app.tags[0]


def read_input(path: Path) -> dict[str, Any]:
    """A job file like test_input.json: a JSON object with an ``input`` key."""
    try:
        job = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint=["--input"]) from exc
    if not isinstance(job, dict) or "input" not in job:
        raise click.BadParameter(
            f'{path} must hold a JSON object with an "input" key, e.g. {{"input": {{...}}}}',
            param_hint=["--input"],
        )
    return job


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _TestModeReader:
    """Sorts the lines of the image's test mode: chunks, the result body, logs."""

    def __init__(self, out: output.Output) -> None:
        self.out = out
        self.outcome = Outcome()
        self.final: dict[str, Any] | None = None
        self.tail: list[str] = []

    def __call__(self, line: str) -> None:
        record = _json_object(line)
        if record is not None and set(record) == {"chunk"}:
            self.outcome.chunks.append(record["chunk"])
            self.out.chunk(record["chunk"])
        elif record is not None and set(record) <= {"output", "error", "stopPod"}:
            self.final = record
        else:
            self.tail = [*self.tail[-19:], line]
            self.out.detail(line)


def run_test_mode(image: str, job: dict[str, Any] | None, out: output.Output) -> Outcome:
    """``docker run --rm IMAGE --test_input JSON``; chunks shown as the lines arrive."""
    reader = _TestModeReader(out)
    args = ["--test_input", json.dumps(job)] if job is not None else []
    status = engine.run_container(image, args, reader)
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
    image: str, job: dict[str, Any], out: output.Output, ready_timeout: float = 120
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


@click.command("test")
@click.argument("image", required=False)
@click.option(
    "--input",
    "input_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='Job file ({"input": ...}) [default: ./test_input.json if present, '
    "else the image's own].",
)
@click.option("--api", is_flag=True, help="Send the job through the image's local API.")
@output.json_option
def test(image: str | None, input_file: Path | None, api: bool, json_output: bool) -> None:
    """Run IMAGE on one job, show its streamed chunks and result; exit 1 if the job failed.

    IMAGE defaults to the image `rpbuild image` builds in the current directory."""
    out = output.for_command(json_output)
    image = image or project_image(Path("."))
    if input_file is None and DEFAULT_INPUT.is_file():
        input_file = DEFAULT_INPUT
    job = read_input(input_file) if input_file is not None else None
    out.info(f"testing {image}" + (" through its local API" if api else ""))
    if not api:
        outcome = run_test_mode(image, job, out)
    elif job is None:
        raise click.UsageError("--api needs a job: pass --input FILE or run in a project directory")
    else:
        outcome = run_api_mode(image, job, out)
    text = f"{outcome.status}: {json.dumps(outcome.reported())}"
    out.result(outcome.as_json(image, "api" if api else "test"), text)
    if outcome.status != "COMPLETED":
        raise SystemExit(1)

"""Handlers written like public workers give the same results under rpworker as under the SDK.

Each handler in tests/compat_handlers/ runs under both runtimes (the SDK from
its own venv) in test mode, through the local API and in production against
the platform emulator; downloads come from a loopback HTTP server, uploads go
to a real S3-compatible server (SeaweedFS) on loopback.
"""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from builder.endpoint.emulator import Emulator
from tests.compat.runtimes import run_api, run_production, run_test_mode
from tests.fixtures.s3 import S3Server

RUNTIMES = ("rpworker", "sdk")
pytestmark = pytest.mark.venv


class Files(ThreadingHTTPServer):
    """Files to download: plain, named by Content-Disposition, zipped, flaky, broken."""

    hits: Counter[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def _archive() -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("a.txt", "A")
        archive.writestr("sub/b.txt", "B")
    return data.getvalue()


class _Serve(BaseHTTPRequestHandler):
    server: Files

    def do_GET(self) -> None:
        self.server.hits[self.path] += 1
        headers: dict[str, str] = {}
        if self.path == "/data.txt":
            body = b"plain file"
        elif self.path == "/report":
            body, headers = b"a,b", {"Content-Disposition": 'attachment; filename="report.csv"'}
        elif self.path == "/bundle.zip":
            body = _archive()
        elif self.path.startswith("/flaky/") and self.server.hits[self.path] >= 3:
            body = b"third time lucky"
        else:
            self.send_error(500)
            return
        self.send_response(200)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def files() -> Iterator[Files]:
    server = Files(("127.0.0.1", 0), _Serve)
    server.hits = Counter()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


LOOPBACK_DOWNLOADS = {"RUNPOD_ALLOW_PRIVATE_DOWNLOAD_URLS": "true"}


def _full_job(files: Files, upload: bool) -> dict[str, Any]:
    return {
        "text": "hello",
        "urls": [f"{files.url}/data.txt", f"{files.url}/report", f"{files.url}/flaky/x"],
        "archive_url": f"{files.url}/bundle.zip",
        "upload": upload,
    }


def test_full_surface_in_test_mode_without_a_bucket(tmp_path: Path, files: Files) -> None:
    results = {}
    for runtime in RUNTIMES:
        files.hits.clear()
        job = {"input": _full_job(files, upload=True)}
        results[runtime] = run_test_mode(
            runtime, "full_surface", tmp_path, job, **LOOPBACK_DOWNLOADS
        )
        assert files.hits["/flaky/x"] == 3, runtime
    assert results["rpworker"] == results["sdk"]
    output = results["sdk"]["output"]
    assert output["args"]["scale"] == 2.0 and output["scale_type"] == "float"
    assert output["contents"] == ["plain file", "a,b", "third time lucky"]
    assert output["downloaded"][1].endswith("<id>.csv")
    assert output["extracted"] == ["a.txt", "sub"]
    assert output["uploaded"]["image"] == "simulated_uploaded/<id>.txt"
    assert output["uploaded"]["bucket"] == "local_upload/named.txt"
    assert output["cleaned"] is True


def test_full_surface_uploads_to_s3_like_the_sdk(
    tmp_path: Path, files: Files, s3_server: S3Server
) -> None:
    s3_server.create_bucket(time.strftime("%m-%y"))
    results = {
        runtime: run_test_mode(
            runtime,
            "full_surface",
            tmp_path,
            {"input": {"text": "up", "upload": True}},
            **s3_server.env(),
        )
        for runtime in RUNTIMES
    }
    assert results["rpworker"] == results["sdk"]
    uploaded = results["sdk"]["output"]["uploaded"]
    bucket = time.strftime("%m-%y")
    assert uploaded["image"] == f"{s3_server.endpoint}/{bucket}/local_test/<id>.txt"
    assert uploaded["bucket"] == f"{s3_server.endpoint}/{bucket}/local_test/named.txt"
    assert uploaded["memory"] == f"{s3_server.endpoint}/{bucket}/mem.txt"
    assert results["sdk"]["output"]["read_back"] == ["UP", "UP", "in memory"]


def test_invalid_input_fails_alike(tmp_path: Path) -> None:
    job = {"input": {"scale": "big"}}
    results = {r: run_test_mode(r, "full_surface", tmp_path, job) for r in RUNTIMES}
    # The SDK passes a returned non-string error on as it is; rpworker as JSON text.
    assert json.loads(results["rpworker"]["error"]) == results["sdk"]["error"]
    assert results["sdk"]["error"] == [
        "text is a required input.",
        "scale should be <class 'float'> type, not <class 'str'>.",
    ]


def test_late_import_with_its_own_flags(tmp_path: Path) -> None:
    job = {"input": {"x": 1}}
    results = {
        r: run_test_mode(r, "late_import", tmp_path, job, "--model", "large") for r in RUNTIMES
    }
    assert results["rpworker"] == results["sdk"]
    assert results["sdk"]["output"] == {"model": "large", "echo": {"x": 1}}


def test_test_input_wins_over_the_platform_env_alike(tmp_path: Path) -> None:
    # A test run in a shell on a serverless worker: the SDK runs the test job.
    platform = {"RUNPOD_WEBHOOK_GET_JOB": "http://127.0.0.1:9/job-take/$ID?gpu=x"}
    job = {"input": {"x": 1}}
    results = {r: run_test_mode(r, "late_import", tmp_path, job, **platform) for r in RUNTIMES}
    assert results["rpworker"] == results["sdk"]
    assert results["sdk"] == {"output": {"model": "base", "echo": {"x": 1}}, "stopPod": True}


@pytest.mark.parametrize("name", ["guarded_stream", "full_surface", "late_import"])
def test_local_api_answers_alike(tmp_path: Path, name: str) -> None:
    inputs: list[Any] = {
        "guarded_stream": [{"count": 3}, {"count": 0}],
        # One job: outside production the SDK never clears its timers, so a second
        # job's LineTimer raises "already exists" (rpworker records it again).
        "full_surface": [{"text": "api", "scale": 3}],
        "late_import": [{"y": 2}],
    }[name]
    answers = {r: run_api(r, name, tmp_path, inputs) for r in RUNTIMES}
    assert answers["rpworker"] == answers["sdk"]
    assert all("output" in a or "error" in a for a in answers["sdk"])


async def test_production_streams_and_modifier_alike(tmp_path: Path) -> None:
    inputs = [{"count": 3}, {"count": 1}]
    runs = {r: await run_production(r, "guarded_stream", tmp_path, inputs) for r in RUNTIMES}
    assert runs["rpworker"].results == runs["sdk"].results
    assert runs["rpworker"].chunks == runs["sdk"].chunks
    assert runs["sdk"].results[1] == {"output": [{"index": 0, "modifier_consulted": True}]}
    assert runs["rpworker"].progress == [["step 0", "step 1", "step 2"], ["step 0"]]


async def test_production_refresh_worker_stops_the_worker_alike(tmp_path: Path) -> None:
    runs = {
        r: await run_production(r, "late_import", tmp_path, [{"z": 1}], exits=True)
        for r in RUNTIMES
    }
    assert runs["rpworker"].results == runs["sdk"].results
    assert runs["sdk"].results == [{"output": {"model": "base", "echo": {"z": 1}}, "stopPod": True}]
    assert runs["rpworker"].exit_code == 0


async def test_production_full_surface_with_debugger_and_s3(
    tmp_path: Path, s3_server: S3Server
) -> None:
    s3_server.create_bucket(time.strftime("%m-%y"))
    results = {}
    for runtime in RUNTIMES:
        run = await run_production(
            runtime,
            "full_surface",
            tmp_path,
            [{"text": "prod", "upload": True}],
            "--rp_debugger",
            **s3_server.env(),
        )
        (body,) = run.results
        debugger = body["output"].pop("rp_debugger")
        assert set(debugger) == {"system_info", "timestamps", "ready_delay_ms"}, runtime
        assert [t["name"] for t in debugger["timestamps"]] == ["work", "shout"], runtime
        results[runtime] = body
    assert results["rpworker"] == results["sdk"]
    assert results["sdk"]["output"]["read_back"] == ["PROD", "PROD", "in memory"]


async def test_a_reassigned_job_done_url_is_where_results_go(tmp_path: Path) -> None:
    elsewhere = Emulator()
    await elsewhere.serve()
    try:
        env = {"OVERRIDE_DONE_URL": elsewhere.env()["RUNPOD_WEBHOOK_POST_OUTPUT"]}
        for count, runtime in enumerate(RUNTIMES, 1):
            run = await run_production(
                runtime,
                "done_url_override",
                tmp_path,
                [runtime],
                until=lambda count=count: len(elsewhere.posts) >= count,
                **env,
            )
            assert run.results == [{}], f"{runtime} posted to the platform's own URL"
        assert [post.body for post in elsewhere.posts] == [
            {"output": {"echo": "rpworker"}},
            {"output": {"echo": "sdk"}},
        ]
    finally:
        await elsewhere.close()


def test_an_async_handler_calls_the_blocking_downloads_alike(tmp_path: Path, files: Files) -> None:
    job = {"input": {"urls": [f"{files.url}/data.txt", f"{files.url}/broken"]}}
    results = {
        r: run_test_mode(r, "async_download", tmp_path, job, **LOOPBACK_DOWNLOADS) for r in RUNTIMES
    }
    assert results["rpworker"] == results["sdk"]
    assert results["sdk"]["output"] == {
        "found": [True, False],
        "type": "txt",
        "original_name": "data.txt",
        "first": "plain file",
    }

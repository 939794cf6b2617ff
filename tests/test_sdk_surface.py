"""Every worker-side name of the SDK, read from the SDK itself, exists under rpworker.

Names the SDK defines that rpworker leaves out either raise an error saying
what to do (the client side, SDK 1.12's newest helpers) or are internals no
handler reaches, listed below with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rpworker.sdk_alias import SHIM_DIR
from tests.compat.sdk import run_sdk_script
from tests.fixtures.worker_process import run_rpworker, write_handler

MODULES = [
    "runpod",
    "runpod.serverless",
    "runpod.serverless.utils",
    "runpod.serverless.utils.rp_upload",
    "runpod.serverless.utils.rp_download",
    "runpod.serverless.utils.rp_cleanup",
    "runpod.serverless.utils.rp_validator",
    "runpod.serverless.utils.rp_debugger",
    "runpod.serverless.utils.rp_cuda",
    "runpod.serverless.utils.rp_ssrf",
    "runpod.serverless.modules.rp_logger",
    "runpod.serverless.modules.rp_progress",
    "runpod.serverless.modules.rp_http",
]

INTERNAL = {
    "runpod.serverless.utils.rp_upload": {"FMT", "TYPE_CHECKING"},  # its logging format, typing
    "runpod.serverless.modules.rp_http": {"send_result", "stream_result"},  # the SDK's own posts
    # The SDK's own download transport (rpworker's downloads check, fetch and cap themselves).
    "runpod.serverless.utils.rp_ssrf": {
        "PinnedIPAdapter",
        "iter_content_capped",
        "resolve_and_validate",
        "safe_get",
    },
}

SDK_NAMES = f"""
import importlib, inspect, json
out = {{}}
for name in {MODULES!r}:
    module = importlib.import_module(name)
    names = set(getattr(module, "__all__", []))
    for attr, obj in vars(module).items():
        if attr.startswith("_"):
            continue
        defined = (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == name
        constant = attr.isupper() and isinstance(obj, (str, int, dict, tuple, list))
        if defined or constant:
            names.add(attr)
    out[name] = sorted(names)
print(json.dumps(out))
"""

OURS = """
import importlib, json, sys
from rpworker.unsupported import NotProvided
found = {}
for name, attrs in json.loads(sys.argv[1]).items():
    module = importlib.import_module(name)
    for attr in attrs:
        try:
            getattr(module, attr)
            found[f"{name}.{attr}"] = "present"
        except NotProvided as exc:
            found[f"{name}.{attr}"] = f"explained: {exc}"
        except AttributeError:
            found[f"{name}.{attr}"] = "missing"
print(json.dumps(found))
"""


@pytest.mark.venv
def test_every_sdk_name_is_provided_or_explained() -> None:
    sdk = run_sdk_script(SDK_NAMES)
    wanted = {
        name: [a for a in attrs if a not in INTERNAL.get(name, ())] for name, attrs in sdk.items()
    }
    done = subprocess.run(
        [sys.executable, "-c", OURS, json.dumps(wanted)],
        env={**os.environ, "PYTHONPATH": str(SHIM_DIR)},
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(done.stdout)
    assert [name for name, how in found.items() if how == "missing"] == []
    explained = sorted(name for name, how in found.items() if how.startswith("explained"))
    assert "runpod.Endpoint" in explained and "runpod.serverless.VolumeCache" in explained
    assert "runpod.serverless.utils.rp_upload.upload_image" not in explained
    assert len(found) > 70


def test_a_client_side_name_says_what_to_do(tmp_path: Path) -> None:
    source = """
    from runpod import Endpoint
    def handler(job):
        return 1
    """
    done = run_rpworker(str(write_handler(tmp_path, source)), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("rpworker: error: runpod.Endpoint is part of the SDK's client")
    assert "runpod_sdk: keep" in done.stderr


def test_a_refused_download_is_the_sdks_ssrf_error(tmp_path: Path) -> None:
    source = """
    from runpod.serverless.utils.rp_download import download_files_from_urls
    from runpod.serverless.utils.rp_ssrf import SSRFError
    def handler(job):
        try:
            download_files_from_urls(job["id"], ["ftp://127.0.0.1/x"])
        except SSRFError as exc:
            return {"refused": isinstance(exc, ValueError)}
    """
    done = run_rpworker(
        str(write_handler(tmp_path, source)), "--test_input", '{"input": 1}', cwd=tmp_path
    )
    assert done.stdout.splitlines()[-1] == '{"output": {"refused": true}}', done.stderr


def test_a_bucket_without_boto3_stops_the_worker_naming_the_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "no_boto3"
    (blocker / "boto3").mkdir(parents=True)
    (blocker / "boto3" / "__init__.py").write_text("raise ImportError('boto3 is not installed')\n")
    source = """
    from runpod.serverless.utils import rp_upload
    def handler(job):
        return rp_upload.upload_image(job["id"], "x.png")
    """
    done = run_rpworker(
        str(write_handler(tmp_path, source)),
        "--test_input",
        '{"input": {}}',
        cwd=tmp_path,
        env={
            "PYTHONPATH": str(blocker),
            "BUCKET_ENDPOINT_URL": "http://127.0.0.1:9",
            "BUCKET_ACCESS_KEY_ID": "k",
            "BUCKET_SECRET_ACCESS_KEY": "s",
        },
    )
    assert done.returncode == 2, done.stderr
    assert "boto3 is not installed" in done.stderr
    assert "pip install 'rpbuild[s3]'" in done.stderr

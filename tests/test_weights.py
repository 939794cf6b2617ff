"""rpworker.weights against a loopback file server and a hub that speaks the hub's URLs."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import huggingface_hub
import pytest

from builder.endpoint.emulator import Emulator
from rpworker import weights
from tests.fixtures.file_server import FileServer, HubRepo, sha256
from tests.fixtures.platform import StartWorker

COMMIT = "0123456789abcdef0123456789abcdef01234567"
MODEL = b"pretend these are weights\n" * 1000


def _url_entry(server: FileServer, target: Path, digest: str | None = None) -> weights.Entry:
    server.files["/f/model.bin"] = MODEL
    return weights.Entry(
        name="weights[0]",
        path=str(target),
        url=f"{server.url}/f/model.bin",
        sha256=digest or sha256(MODEL),
    )


def _hub(server: FileServer, token: str | None = None) -> HubRepo:
    repo = HubRepo(
        COMMIT,
        {
            "config.json": b'{"hidden": 4}',
            "model.safetensors": MODEL,
            "unet/diffusion.safetensors": MODEL[::-1],
            "README.md": b"# a model\n",
        },
        lfs={"model.safetensors", "unet/diffusion.safetensors"},
        token=token,
    )
    server.repos["org/model"] = repo
    return repo


@pytest.fixture
def hub_endpoint(file_server: FileServer, monkeypatch: pytest.MonkeyPatch) -> FileServer:
    monkeypatch.setenv("HF_ENDPOINT", file_server.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return file_server


def test_a_url_entry_is_downloaded_once_into_the_cache(
    file_server: FileServer, tmp_path: Path
) -> None:
    target = tmp_path / "image" / "models" / "model.bin"
    entry = _url_entry(file_server, target)
    lines: list[str] = []
    weights.fetch_cached(entry, tmp_path / "cache", lines.append)
    assert target.read_bytes() == MODEL
    assert file_server.downloads() == 1
    assert any("verified" in line for line in lines)
    target.unlink()
    weights.fetch_cached(entry, tmp_path / "cache", lines.append)
    assert target.read_bytes() == MODEL
    assert sum(file_server.requests.values()) == 1


def test_a_checksum_mismatch_names_the_entry_and_places_nothing(
    file_server: FileServer, tmp_path: Path
) -> None:
    target = tmp_path / "model.bin"
    entry = _url_entry(file_server, target, digest="0" * 64)
    with pytest.raises(weights.WeightsError) as caught:
        weights.fetch_cached(entry, tmp_path / "cache", lambda line: None)
    message = str(caught.value)
    assert message.startswith("weights[0] ")
    assert f"checksum mismatch: expected sha256 {'0' * 64}, got {sha256(MODEL)}" in message
    assert not target.exists()
    assert list((tmp_path / "cache").rglob("*")) == [tmp_path / "cache" / "sha256"]


def test_an_http_error_names_the_entry_and_the_status(
    file_server: FileServer, tmp_path: Path
) -> None:
    entry = weights.Entry(
        name="weights[2]", path=str(tmp_path / "x"), url=f"{file_server.url}/f/none"
    )
    with pytest.raises(weights.WeightsError, match=r"^weights\[2\]: .*/f/none: HTTP 404"):
        weights.fetch_cached(entry, tmp_path / "cache", lambda line: None)


def test_a_hub_entry_takes_the_matching_files_verified_by_the_listing(
    hub_endpoint: FileServer, tmp_path: Path
) -> None:
    _hub(hub_endpoint)
    entry = weights.Entry(
        name="weights[1]", path=str(tmp_path / "m"), hf="org/model", files=("*.json", "unet/")
    )
    weights.fetch_cached(entry, tmp_path / "cache", lambda line: None)
    placed = sorted(p.relative_to(tmp_path / "m").as_posix() for p in (tmp_path / "m").rglob("*"))
    assert placed == ["config.json", "unet", "unet/diffusion.safetensors"]
    assert (tmp_path / "m" / "unet" / "diffusion.safetensors").read_bytes() == MODEL[::-1]
    # The revision is resolved once; the listing at a commit is kept in the cache.
    assert hub_endpoint.requests["GET /api/models/org/model/revision/main"] == 1
    assert hub_endpoint.downloads() == 2
    before = sum(hub_endpoint.requests.values())
    pinned = weights.Entry(
        name="weights[1]",
        path=str(tmp_path / "again"),
        hf="org/model",
        revision=COMMIT,
        files=entry.files,
    )
    weights.fetch_cached(pinned, tmp_path / "cache", lambda line: None)
    assert sum(hub_endpoint.requests.values()) == before
    assert (tmp_path / "again" / "config.json").read_bytes() == b'{"hidden": 4}'


def test_a_tampered_hub_file_fails_its_listed_digest(
    hub_endpoint: FileServer, tmp_path: Path
) -> None:
    repo = _hub(hub_endpoint)
    listed = repo.tree()
    repo.files["config.json"] = b'{"hidden": 5}'
    repo.tree = lambda: listed  # type: ignore[method-assign]
    entry = weights.Entry(
        name="weights[0]", path=str(tmp_path / "m"), hf="org/model", files=("*.json",)
    )
    with pytest.raises(weights.WeightsError, match=r"config.json: checksum mismatch: .*git-blob"):
        weights.fetch_cached(entry, tmp_path / "cache", lambda line: None)


def test_a_private_repo_needs_the_token_which_never_reaches_the_cdn(
    hub_endpoint: FileServer, tmp_path: Path
) -> None:
    _hub(hub_endpoint, token="hf_secret")
    entry = weights.Entry(
        name="weights[0]", path=str(tmp_path / "m"), hf="org/model", files=("model.*",)
    )
    with pytest.raises(weights.WeightsError, match=r"HTTP 401 .*needs HF_TOKEN"):
        weights.fetch_cached(entry, tmp_path / "cache", lambda line: None)
    token = tmp_path / "HF_TOKEN"
    token.write_text("hf_secret\n")
    with_token = dataclasses.replace(entry, token_file=str(token))
    weights.fetch_cached(with_token, tmp_path / "cache", lambda line: None)
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == MODEL
    cdn = [path for path in hub_endpoint.authorizations if path.startswith("/cdn/")]
    assert cdn
    assert all(hub_endpoint.authorizations[path] is None for path in cdn)
    assert hub_endpoint.authorizations["/org/model/resolve/" + COMMIT + "/model.safetensors"] == (
        "Bearer hf_secret"
    )


def test_the_fake_hub_serves_what_the_real_hub_client_downloads(
    hub_endpoint: FileServer, tmp_path: Path
) -> None:
    """The same server, read by huggingface_hub: our URLs and headers are the hub's."""
    repo = _hub(hub_endpoint)
    got = huggingface_hub.snapshot_download(
        "org/model",
        revision="main",
        allow_patterns=["*.json", "unet/"],
        local_dir=tmp_path / "real",
        endpoint=hub_endpoint.url,
        token=False,
    )
    ours = tmp_path / "ours"
    entry = weights.Entry(name="w", path=str(ours), hf="org/model", files=("*.json", "unet/"))
    weights.fetch_cached(entry, tmp_path / "cache", lambda line: None)
    for path in ("config.json", "unet/diffusion.safetensors"):
        assert (Path(got) / path).read_bytes() == repo.files[path] == (ours / path).read_bytes()


def test_runtime_entries_are_fetched_once_and_refetched_when_changed(
    file_server: FileServer, tmp_path: Path
) -> None:
    target = tmp_path / "volume" / "model.bin"
    entry = _url_entry(file_server, target)
    manifest = tmp_path / "weights.json"
    manifest.write_text(json.dumps([entry.as_dict()]))
    env = {weights.MANIFEST_ENV: str(manifest)}
    weights.ensure_runtime(env)
    assert target.read_bytes() == MODEL
    weights.ensure_runtime(env)
    assert file_server.downloads() == 1
    target.write_bytes(b"truncated")
    weights.ensure_runtime(env)
    assert file_server.downloads() == 2
    assert target.read_bytes() == MODEL


def test_without_a_manifest_the_runtime_fetches_nothing(tmp_path: Path) -> None:
    weights.ensure_runtime({weights.MANIFEST_ENV: str(tmp_path / "absent.json")})
    assert not os.listdir(tmp_path)


def test_the_build_command_line_fetches_one_entry(file_server: FileServer, tmp_path: Path) -> None:
    entry = _url_entry(file_server, tmp_path / "out.bin")
    argv = ["--name", "weights[0]", "--to", entry.path, "--cache", str(tmp_path / "c")]
    assert weights.main([*argv, "--url", str(entry.url), "--sha256", str(entry.sha256)]) == 0
    assert (tmp_path / "out.bin").read_bytes() == MODEL
    bad = ["--url", str(entry.url), "--sha256", "f" * 64]
    assert weights.main([*argv[:3], str(tmp_path / "o2"), *argv[4:], *bad]) == 1


async def test_the_worker_fetches_runtime_weights_before_its_first_take(
    file_server: FileServer, emulator: Emulator, start_worker: StartWorker, tmp_path: Path
) -> None:
    target = tmp_path / "volume" / "model.bin"
    manifest = tmp_path / "weights.json"
    manifest.write_text(json.dumps([_url_entry(file_server, target).as_dict()]))
    (job_id,) = await emulator.submit(str(target))
    worker = await start_worker(
        "import hashlib, pathlib\n"
        "def handler(job):\n"
        "    return hashlib.sha256(pathlib.Path(job['input']).read_bytes()).hexdigest()\n",
        RPWORKER_WEIGHTS_MANIFEST=str(manifest),
    )
    await emulator.wait_results(1)
    worker.signal()
    assert await worker.wait() == 0
    assert emulator.results[job_id] == {"output": sha256(MODEL)}
    assert file_server.served_at[0] < emulator.take_times[0]
    assert "weights[0] " in worker.output
    assert "verified (sha256 " in worker.output


async def test_a_bad_runtime_entry_reports_the_worker_unhealthy(
    file_server: FileServer, emulator: Emulator, start_worker: StartWorker, tmp_path: Path
) -> None:
    manifest = tmp_path / "weights.json"
    entry = _url_entry(file_server, tmp_path / "model.bin", digest="1" * 64)
    manifest.write_text(json.dumps([entry.as_dict()]))
    worker = await start_worker(
        "def handler(job):\n    return 1\n", RPWORKER_WEIGHTS_MANIFEST=str(manifest)
    )
    assert await worker.wait() == 1
    assert emulator.takes == []
    ((_, ping),) = emulator.pings
    assert ping["status"] == "unhealthy"
    assert ping["check"] == "weights"
    assert "weights[0] " in ping["reason"] and "checksum mismatch" in ping["reason"]

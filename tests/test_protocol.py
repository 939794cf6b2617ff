"""The platform client and the production settings, against the emulator in-process."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from builder.endpoint.emulator import Emulator, Faults
from rpworker.codec import NotJSON
from rpworker.env import SettingError
from rpworker.protocol import Platform, ResultTooLarge, backoff, fill, ping_url, with_query
from rpworker.settings import Settings, load


def test_query_parameters_are_appended_to_an_existing_query() -> None:
    assert with_query("http://h/a?gpu=x", {"n": 1}) == "http://h/a?gpu=x&n=1"
    assert with_query("http://h/a", {"n": 1, "s": "a b"}) == "http://h/a?n=1&s=a+b"
    assert with_query("http://h/a", {}) == "http://h/a"


def test_placeholders() -> None:
    done = "http://h/job-done/$RUNPOD_POD_ID/$ID?gpu=x"
    assert fill(done, "w1", "j9") == "http://h/job-done/w1/j9?gpu=x"
    assert fill("http://h/job-take/$ID", "w1") == "http://h/job-take/w1"
    assert fill(done, "w 1", "a/../x?y=") == "http://h/job-done/w%201/a%2F..%2Fx%3Fy%3D?gpu=x"


def _settings(**env: str) -> Settings:
    base = {
        "RUNPOD_WEBHOOK_GET_JOB": "http://h/job-take/$ID",
        "RUNPOD_WEBHOOK_POST_OUTPUT": "http://h/job-done/$RUNPOD_POD_ID/$ID",
        "RUNPOD_WEBHOOK_PING": "http://h/ping/$RUNPOD_POD_ID",
        "RUNPOD_POD_ID": "w1",
    }
    return load({}, {**base, **env})


def test_ping_lists_running_jobs_and_omits_job_id_when_idle() -> None:
    settings = _settings()
    assert ping_url(settings, ["a", "b"]).startswith(
        "http://h/ping/w1?job_id=a%2Cb&runpod_version="
    )
    assert "job_id" not in ping_url(settings, [])


def test_settings_defaults_and_errors() -> None:
    settings = _settings()
    assert settings.ping_interval_s == 10
    assert settings.shutdown_grace_s == 30
    assert settings.max_result_bytes == 20_000_000
    assert settings.job_timeout_s is None
    assert settings.stream_url == settings.done_url
    assert load({"timeout": 5}, {**_env(), "RPWORKER_JOB_TIMEOUT": "9"}).job_timeout_s == 5
    assert _settings(RPWORKER_JOB_TIMEOUT="9").job_timeout_s == 9
    with pytest.raises(
        SettingError, match="RPWORKER_SHUTDOWN_GRACE='soon' is invalid: use a number"
    ):
        _settings(RPWORKER_SHUTDOWN_GRACE="soon")
    with pytest.raises(SettingError, match='config "timeout"'):
        load({"timeout": "5"}, _env())
    with pytest.raises(SettingError, match="RUNPOD_WEBHOOK_POST_OUTPUT is not set"):
        load({}, {"RUNPOD_WEBHOOK_GET_JOB": "http://h/job-take/$ID"})
    with pytest.raises(SettingError, match="RUNPOD_WEBHOOK_PING='h/ping' is invalid: use an http"):
        _settings(RUNPOD_WEBHOOK_PING="h/ping")


def _env() -> dict[str, str]:
    return {"RUNPOD_WEBHOOK_GET_JOB": "http://h/x", "RUNPOD_WEBHOOK_POST_OUTPUT": "http://h/y"}


def test_backoff_is_jittered_and_capped() -> None:
    rng = random.Random(1)
    delays = [backoff(attempt, rng, base=0.1, cap=2) for attempt in range(12)]
    assert all(0 <= d <= 2 for d in delays)
    assert len(set(delays)) == len(delays)


@pytest.fixture
async def platform(emulator: Emulator) -> AsyncIterator[Platform]:
    env = {**emulator.env("w1"), "RPWORKER_RETRY_SECONDS": "2"}
    async with Platform.open(load({}, env)) as client:
        yield client


async def test_take_single_and_batch(emulator: Emulator, platform: Platform) -> None:
    ids = await emulator.submit("a", "b", "c")
    assert [job["id"] for job in await platform.take(1, in_progress=False)] == ids[:1]
    assert [job["id"] for job in await platform.take(5, in_progress=True)] == ids[1:]
    assert await platform.take(2, in_progress=True) == []  # long poll ends with 204
    assert emulator.takes[0] == {"gpu": "emulated", "job_in_progress": "0"}
    assert emulator.takes[1] == {"gpu": "emulated", "job_in_progress": "1", "batch_size": "5"}


async def test_stop_channel(emulator: Emulator, platform: Platform) -> None:
    [job_id] = await emulator.submit({})
    assert [job["id"] for job in await platform.take(1, in_progress=False)] == [job_id]
    await emulator.stop_job(job_id)
    assert await platform.jobs_to_stop() == [job_id]
    assert await platform.jobs_to_stop() == []


async def test_posts_retry_transient_failures(emulator: Emulator, platform: Platform) -> None:
    emulator.faults = {"done": Faults(error_rate=0.5, error_status=429, drop_rate=0.3)}
    for n in range(20):
        assert await platform.done(f"j{n}", platform.encode({"output": n}), is_stream=False)
    assert emulator.results == {f"j{n}": {"output": n} for n in range(20)}
    assert emulator.injected["done:error"] and emulator.injected["done:drop"]


async def test_posts_give_up_within_the_budget(emulator: Emulator, platform: Platform) -> None:
    emulator.faults = {"done": Faults(error_rate=1.0)}
    assert not await platform.done("j1", b"{}", is_stream=False)
    assert emulator.injected["done:error"] > 3


async def test_a_refused_post_is_not_retried(emulator: Emulator, platform: Platform) -> None:
    emulator.faults = {"done": Faults(error_rate=1.0, error_status=400)}
    assert not await platform.done("j1", b"{}", is_stream=False)
    assert emulator.injected["done:error"] == 1


async def test_encode_refuses_oversized_and_non_json(platform: Platform) -> None:
    with pytest.raises(ResultTooLarge, match="RPWORKER_MAX_RESULT_BYTES"):
        platform.encode({"output": "x" * 20_000_001})
    with pytest.raises(NotJSON, match="object is not JSON serializable"):
        platform.encode({"output": object()})


async def test_unhealthy_ping(emulator: Emulator, platform: Platform) -> None:
    await platform.ping_unhealthy("gpu", "driver too old")
    ((_, query),) = emulator.pings
    assert query["status"] == "unhealthy"
    assert (query["check"], query["reason"]) == ("gpu", "driver too old")
    assert "job_id" not in query

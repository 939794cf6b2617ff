"""The production worker against the platform emulator, each worker a real subprocess."""

from __future__ import annotations

import itertools
import json
import signal

from builder.endpoint.emulator import Emulator, Faults
from tests.fixtures.platform import StartWorker
from tests.fixtures.worker_process import EXITING_HANDLER

ECHO = """
def handler(job):
    return {"echo": job["input"]}
"""


async def test_echo_speaks_the_protocol(emulator: Emulator, start_worker: StartWorker) -> None:
    ids = await emulator.submit(1, "two", {"three": 3})
    worker = await start_worker(ECHO, RUNPOD_PING_INTERVAL="200")
    await emulator.wait_results(3)
    await emulator.wait_for(lambda: len(emulator.pings) >= 2)
    worker.signal()
    assert await worker.wait() == 0
    assert [emulator.results[i] for i in ids] == [
        {"output": {"echo": 1}},
        {"output": {"echo": "two"}},
        {"output": {"echo": {"three": 3}}},
    ]
    assert emulator.bad_auth == 0
    assert {(p.is_stream, p.content_type) for p in emulator.posts} == {
        ("false", "application/json")
    }
    assert all(take["gpu"] == "emulated" for take in emulator.takes)
    assert {take["job_in_progress"] for take in emulator.takes} <= {"0", "1"}
    assert all(query["runpod_version"] for _, query in emulator.pings)


async def test_a_thousand_jobs_through_faults(
    emulator: Emulator, start_worker: StartWorker
) -> None:
    emulator.faults = {
        "done": Faults(error_rate=0.2, drop_rate=0.05),
        "take": Faults(drop_rate=0.05, slow_rate=0.05, slow_s=0.05),
    }
    ids = await emulator.submit(*range(1000))
    worker = await start_worker(
        ECHO + "CONFIG = {'concurrency_modifier': lambda current: 16}\n",
        RPWORKER_RETRY_SECONDS="60",
    )
    await emulator.wait_results(1000, timeout=120)
    worker.signal()
    assert await worker.wait() == 0
    assert all(emulator.results[job_id] == {"output": {"echo": n}} for n, job_id in enumerate(ids))
    assert set(emulator.result_counts.values()) == {1}  # faults hit before the emulator records
    assert emulator.injected["done:error"] > 100
    assert emulator.injected["done:drop"] > 10
    assert emulator.injected["take:drop"] > 0
    assert emulator.injected["take:slow"] > 0
    assert any(int(take.get("batch_size", 1)) > 1 for take in emulator.takes)


async def test_stream_chunks_in_order(emulator: Emulator, start_worker: StartWorker) -> None:
    emulator.faults = {"stream": Faults(error_rate=0.3, drop_rate=0.1)}
    (job_id,) = await emulator.submit(6)
    worker = await start_worker(
        """
        import asyncio
        async def handler(job):
            for i in range(job["input"]):
                yield {"token": i}
                await asyncio.sleep(0.01)
        CONFIG = {"return_aggregate_stream": True}
        """
    )
    await emulator.wait_results(1)
    worker.signal()
    assert await worker.wait() == 0
    expected = [{"token": i} for i in range(6)]
    assert emulator.chunks[job_id] == expected
    assert emulator.results[job_id] == {"output": expected}
    assert {p.is_stream for p in emulator.posts} == {"true"}


async def test_progress_arrives_before_the_result(
    emulator: Emulator, start_worker: StartWorker
) -> None:
    (job_id,) = await emulator.submit(3)
    worker = await start_worker(
        """
        from rpworker import progress_update
        def handler(job):
            for i in range(job["input"]):
                progress_update(job, f"step {i}")
            return "finished"
        """
    )
    await emulator.wait_results(1)
    worker.signal()
    assert await worker.wait() == 0
    assert emulator.progress[job_id] == ["step 0", "step 1", "step 2"]
    assert [p.body.get("status") for p in emulator.posts][-1] is None


async def test_timeout_fails_the_job_and_abandons_a_sync_handler(
    emulator: Emulator, start_worker: StartWorker
) -> None:
    ids = await emulator.submit("stuck", "quick")
    worker = await start_worker(
        """
        import time
        def handler(job):
            if job["input"] == "stuck":
                time.sleep(4)
                return "too late"
            return "quick"
        CONFIG = {"timeout": 0.5, "concurrency_modifier": lambda current: 1}
        """
    )
    await emulator.wait_results(2)
    worker.signal()
    assert await worker.wait() == 0
    assert emulator.results[ids[0]] == {"error": "job timed out after 0.5s " + _TIMEOUT_HINT}
    assert emulator.results[ids[1]] == {"output": "quick"}
    assert emulator.result_counts[ids[0]] == 1


_TIMEOUT_HINT = '(config "timeout" or RPWORKER_JOB_TIMEOUT)'


async def test_job_stop_cancels_without_a_result(
    emulator: Emulator, start_worker: StartWorker
) -> None:
    ids = await emulator.submit("slow", "fast")
    worker = await start_worker(
        """
        import asyncio
        async def handler(job):
            if job["input"] == "slow":
                await asyncio.sleep(30)
            return job["input"]
        CONFIG = {"concurrency_modifier": lambda current: 1}
        """,
        RUNPOD_PING_INTERVAL="100",
    )
    await emulator.wait_for(lambda: any(q.get("job_id") == ids[0] for _, q in emulator.pings))
    await emulator.stop_job(ids[0])
    await emulator.wait_results(1)
    worker.signal()
    assert await worker.wait() == 0
    assert emulator.results == {ids[1]: {"output": "fast"}}
    assert [p.job_id for p in emulator.posts] == [ids[1]]


async def test_oversized_result_becomes_a_failure(
    emulator: Emulator, start_worker: StartWorker
) -> None:
    ids = await emulator.submit(10, 5000)
    worker = await start_worker(
        'def handler(job):\n    return "x" * job["input"]\n',
        RPWORKER_MAX_RESULT_BYTES="1000",
    )
    await emulator.wait_results(2)
    worker.signal()
    assert await worker.wait() == 0
    assert emulator.results[ids[0]] == {"output": "x" * 10}
    error = emulator.results[ids[1]]["error"]
    assert "over the platform's limit of 1000 bytes (RPWORKER_MAX_RESULT_BYTES)" in error


async def test_concurrency_raise_applies_while_busy(
    emulator: Emulator, start_worker: StartWorker
) -> None:
    await emulator.submit(*range(4))
    worker = await start_worker(
        """
        import threading
        wanted = 1
        barrier = threading.Barrier(4)
        def handler(job):
            global wanted
            wanted = 4
            barrier.wait(timeout=20)
            return "together"
        CONFIG = {"concurrency_modifier": lambda current: wanted}
        """
    )
    await emulator.wait_results(4, timeout=30)
    worker.signal()
    assert await worker.wait() == 0
    assert [body["output"] for body in emulator.results.values()] == ["together"] * 4


async def test_heartbeat_keeps_going_under_a_cpu_bound_handler(
    emulator: Emulator, start_worker: StartWorker
) -> None:
    (job_id,) = await emulator.submit(3.0)
    worker = await start_worker(
        """
        import time
        def handler(job):
            end = time.monotonic() + job["input"]
            n = 0
            while time.monotonic() < end:
                n += 1
            return n
        """,
        RUNPOD_PING_INTERVAL="200",
    )
    await emulator.wait_results(1)
    worker.signal()
    assert await worker.wait() == 0
    during = [at for at, query in emulator.pings if query.get("job_id") == job_id]
    assert len(during) >= 5  # 15 at the ideal period
    gaps = [b - a for a, b in itertools.pairwise(during)]
    assert max(gaps) < 2.0


async def test_refresh_worker_exits_after_the_job(
    emulator: Emulator, start_worker: StartWorker
) -> None:
    ids = await emulator.submit("a", "b")
    worker = await start_worker(
        'def handler(job):\n    return job["input"]\nCONFIG = {"refresh_worker": True}\n'
    )
    assert await worker.wait() == 0
    assert emulator.results == {ids[0]: {"output": "a", "stopPod": True}}
    assert [job["id"] for job in emulator.queue] == [ids[1]]


async def test_json_log_lines_on_the_platform(
    emulator: Emulator, start_worker: StartWorker
) -> None:
    (job_id,) = await emulator.submit(1)
    worker = await start_worker(
        "import logging\ndef handler(job):\n    logging.getLogger('app').warning('hi')\n",
        RUNPOD_ENDPOINT_ID="ep",
    )
    await emulator.wait_results(1)
    worker.signal(signal.SIGINT)
    assert await worker.wait() == 0
    lines = [json.loads(line) for line in worker.output.splitlines()]
    assert all(set(line) == {"requestId", "message", "level"} for line in lines)
    assert {"requestId": job_id, "message": "hi", "level": "WARN"} in lines


async def test_seed_style_handler_file_under_the_launcher(
    emulator: Emulator, start_worker: StartWorker
) -> None:
    (job_id,) = await emulator.submit({"n": 3})
    worker = await start_worker(
        """
        import asyncio
        import runpod

        async def handler(job):
            for i in range(job["input"]["n"]):
                yield f"token {i}"
                await asyncio.sleep(0.01)

        runpod.serverless.start({"handler": handler, "return_aggregate_stream": True})
        """,
        launcher=True,
    )
    await emulator.wait_results(1)
    worker.signal()
    assert await worker.wait() == 0
    tokens = ["token 0", "token 1", "token 2"]
    assert emulator.chunks[job_id] == tokens
    assert emulator.results[job_id] == {"output": tokens}


async def test_a_bad_setting_stops_the_worker_at_start(start_worker: StartWorker) -> None:
    worker = await start_worker(ECHO, RPWORKER_SHUTDOWN_GRACE="soon")
    assert await worker.wait() == 2
    assert "RPWORKER_SHUTDOWN_GRACE='soon' is invalid: use a number" in worker.output


async def test_a_handler_that_exits_fails_only_its_job(
    emulator: Emulator, start_worker: StartWorker
) -> None:
    """Row 2: each exit fails its own job; the slow one next to it is posted; takes go on."""
    hows = ("slow", "interrupt", "exit", "async_exit", "later")
    ids = await emulator.submit(*({"how": how} for how in hows))
    worker = await start_worker(
        EXITING_HANDLER + "CONFIG = {'concurrency_modifier': lambda current: 2}\n"
    )
    await emulator.wait_results(5)
    worker.signal()
    assert await worker.wait() == 0
    assert emulator.results[ids[0]] == {"output": "survived"}
    assert emulator.results[ids[4]] == {"output": "later"}
    kinds = [json.loads(emulator.results[i]["error"])["error_type"] for i in ids[1:4]]
    assert [
        "KeyboardInterrupt" in kinds[0],
        "SystemExit" in kinds[1],
        "SystemExit" in kinds[2],
    ] == [
        True,
        True,
        True,
    ]


async def test_a_garbled_job_stop_answer_is_logged_once_and_skipped(
    emulator: Emulator, start_worker: StartWorker
) -> None:
    """Row 3: ``{"jobsToStop": 5}`` neither crashes the worker nor floods the log."""
    emulator.stop_answer = {"jobsToStop": 5}
    ids = await emulator.submit(1.0, 0.0)
    worker = await start_worker(
        "import time\ndef handler(job):\n    time.sleep(job['input'])\n    return job['input']\n"
    )
    await emulator.wait_results(2)
    worker.signal()
    assert await worker.wait() == 0
    assert [emulator.results[i] for i in ids] == [{"output": 1.0}, {"output": 0.0}]
    assert worker.output.count("job-stop answer") == 1
    assert "worker loop failed" not in worker.output


async def test_results_that_are_not_json_fail_their_jobs(
    emulator: Emulator, start_worker: StartWorker
) -> None:
    """Rows 4 and 10: too deep, a set, NaN: each job fails with the problem named."""
    ids = await emulator.submit("deep", "set", "nan", "fine")
    worker = await start_worker(
        """
        def handler(job):
            kind = job["input"]
            if kind == "deep":
                value = []
                for _ in range(5000):
                    value = [value]
                return value
            return {"set": {1, 2}, "nan": float("nan")}.get(kind, kind)
        """
    )
    await emulator.wait_results(4)
    worker.signal()
    assert await worker.wait() == 0
    assert "nested too deeply" in emulator.results[ids[0]]["error"]
    assert "set is not JSON" in emulator.results[ids[1]]["error"]
    assert "NaN" in emulator.results[ids[2]]["error"]
    assert emulator.results[ids[3]] == {"output": "fine"}
    assert "never retrieved" not in worker.output


async def test_job_ids_are_checked_and_encoded(
    emulator: Emulator, start_worker: StartWorker
) -> None:
    """Row 9: odd ids post to their own job's URL; unusable ids are logged, not run."""
    odd = "a/../../job-take/x?y="
    emulator.raw.extend(
        [
            {"id": odd, "input": "odd"},
            {"id": None, "input": "null"},
            {"input": "no id"},
            {"id": "fine", "input": "fine"},
        ]
    )
    worker = await start_worker(ECHO)
    await emulator.wait_results(2)
    await emulator.wait_for(lambda: not emulator.queue)
    worker.signal()
    assert await worker.wait() == 0
    assert emulator.results == {
        odd: {"output": {"echo": "odd"}},
        "fine": {"output": {"echo": "fine"}},
    }
    assert "None" not in emulator.results
    assert worker.output.count("job without a usable id") == 2


async def test_an_async_handler_blocking_the_loop_is_named_and_timed_out(
    emulator: Emulator, start_worker: StartWorker
) -> None:
    """Row 14 in production: one warning naming the handler; its timeout still applies."""
    (job_id,) = await emulator.submit(1.2)
    worker = await start_worker(
        """
        import time
        async def hog(job):
            time.sleep(job["input"])  # blocks the event loop: the point of the test
            return "finished late"
        handler = hog
        CONFIG = {"timeout": 0.5}
        """
    )
    await emulator.wait_results(1)
    worker.signal()
    assert await worker.wait() == 0
    assert emulator.results[job_id] == {"error": "job timed out after 0.5s " + _TIMEOUT_HINT}
    (warning,) = [line for line in worker.output.splitlines() if "blocked the event loop" in line]
    assert "hog" in warning

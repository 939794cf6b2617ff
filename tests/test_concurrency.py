"""The elastic executor: threads follow the work, stuck ones never block the rest."""

from __future__ import annotations

import asyncio
import threading

import pytest

from rpworker.concurrency import ElasticExecutor


def test_threads_follow_concurrent_work_and_are_reused() -> None:
    executor = ElasticExecutor()
    barrier = threading.Barrier(4)
    futures = [executor.submit(barrier.wait, 10) for _ in range(4)]
    assert sorted(f.result(timeout=10) for f in futures) == [0, 1, 2, 3]
    assert executor.threads == 4
    names = {executor.submit(lambda: threading.current_thread().name).result(10) for _ in range(8)}
    assert executor.threads == 4
    assert len(names) <= 4
    executor.shutdown()


def test_a_stuck_call_does_not_hold_up_new_work() -> None:
    executor = ElasticExecutor()
    release = threading.Event()
    stuck = executor.submit(release.wait, 30)
    assert executor.submit(lambda: "free").result(timeout=10) == "free"
    assert not stuck.done()
    release.set()
    assert stuck.result(timeout=10) is True
    executor.shutdown()


def test_idle_threads_retire() -> None:
    executor = ElasticExecutor(idle_timeout_s=0.05, name="retiring")
    executor.submit(lambda: None).result(timeout=10)
    for thread in threading.enumerate():
        if thread.name.startswith("retiring"):
            thread.join(timeout=10)
    assert executor.threads == 0


def test_exceptions_reach_the_caller_and_shutdown_refuses_work() -> None:
    executor = ElasticExecutor()
    with pytest.raises(ZeroDivisionError):
        executor.submit(lambda: 1 / 0).result(timeout=10)
    executor.shutdown()
    with pytest.raises(RuntimeError, match="shutting down"):
        executor.submit(lambda: None)


async def test_run_hands_back_every_result_and_error() -> None:
    executor = ElasticExecutor()
    barrier = threading.Barrier(8)

    def value(n: int) -> int:
        barrier.wait(10)  # eight finish together: their results share wake-ups
        return n

    assert await asyncio.gather(*(executor.run(value, n) for n in range(8))) == list(range(8))
    assert await asyncio.gather(*(executor.run(abs, -n) for n in range(100))) == list(range(100))
    with pytest.raises(ZeroDivisionError):
        await executor.run(lambda: 1 / 0)
    executor.shutdown()


def test_a_result_finishing_after_its_loop_closed_is_dropped() -> None:
    executor = ElasticExecutor(idle_timeout_s=0.05, name="late")
    release = threading.Event()
    started = threading.Event()

    def blocking() -> str:
        started.set()
        release.wait(30)
        return "late"

    async def abandon() -> None:
        waiting = asyncio.ensure_future(executor.run(blocking))
        await asyncio.to_thread(started.wait, 10)
        assert not waiting.done()

    asyncio.run(abandon())  # cancels the waiting task and closes the loop
    (thread,) = [t for t in threading.enumerate() if t.name.startswith("late")]
    release.set()
    thread.join(timeout=10)  # it hands "late" back, then retires
    assert executor.threads == 0  # a thread killed by the hand-over would still count

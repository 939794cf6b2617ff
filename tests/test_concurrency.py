"""The elastic executor: threads follow the work, stuck ones never block the rest."""

from __future__ import annotations

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

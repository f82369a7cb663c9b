"""Threads and asyncio: casts release the GIL and overlap, cast_async serves asyncio, and casts
are cancelled from another thread or by cancelling the awaiting task.

Overlap is measured from the casts' own usage records (start time and wall time): casts that
ran in parallel share much of their time; casts serialized by a held GIL would share none. The
elapsed time against one cast alone is printed as well."""

import _thread
import asyncio
import signal
import threading
import time
from typing import Callable, Sequence

import pytest

import spell


@pytest.fixture(scope="module")
def count(guest: Callable[..., spell.Spell]) -> spell.Spell:
    return guest("count")


def shared_fraction(outcomes: Sequence[spell.CastOutcome]) -> float:
    """The time all casts ran at once, as a fraction of the shortest cast."""
    spans = [(o.usage.started_at_ms / 1e3, o.usage.started_at_ms / 1e3 + o.usage.wall_ns / 1e9) for o in outcomes]
    shared = min(end for _, end in spans) - max(start for start, _ in spans)
    return shared / min(end - start for start, end in spans)


def test_threads_cast_in_parallel(count: spell.Spell) -> None:
    single = time.perf_counter()
    count.cast()
    single = time.perf_counter() - single
    outcomes: list[spell.CastOutcome] = []
    ready = threading.Barrier(2)

    def cast() -> None:
        ready.wait()
        outcomes.append(count.cast())

    threads = [threading.Thread(target=cast) for _ in range(2)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    shared = shared_fraction(outcomes)
    print(f"\none CPU-bound cast {single:.3f} s; two on two threads {elapsed:.3f} s, running together {shared:.0%} of the time")
    assert [o.outcome for o in outcomes] == ["ok", "ok"]
    assert shared > 0.25


def test_cast_async_runs_casts_in_parallel(count: spell.Spell) -> None:
    async def main() -> tuple[float, list[spell.CastOutcome]]:
        start = time.perf_counter()
        outcomes = await asyncio.gather(count.cast_async(), count.cast_async())
        return time.perf_counter() - start, list(outcomes)

    elapsed, outcomes = asyncio.run(main())
    shared = shared_fraction(outcomes)
    print(f"\ntwo cast_async awaited together {elapsed:.3f} s, running together {shared:.0%} of the time")
    assert [o.outcome for o in outcomes] == ["ok", "ok"]
    assert shared > 0.25


def test_cast_async_never_holds_the_event_loop(guest: Callable[..., spell.Spell]) -> None:
    # A cast runs on the loop's thread only within a 0.25 ms budget, then in the runtime's pool:
    # a 300 ms spinning cast leaves the loop's timers on time.
    spin = guest("spin", limits={"wall_time_ms": 300})

    async def main() -> tuple[float, spell.CastOutcome]:
        worst = 0.0
        task = asyncio.ensure_future(spin.cast_async())
        while not task.done():
            before = time.perf_counter()
            await asyncio.sleep(0.002)
            worst = max(worst, time.perf_counter() - before - 0.002)
        return worst, await task

    worst, outcome = asyncio.run(main())
    print(f"\nworst timer lag during a 300 ms cast_async: {worst * 1e3:.2f} ms")
    assert outcome.outcome == "timeout"
    assert worst < 0.05


def test_cast_async_raises_what_cast_raises(hello: spell.Spell) -> None:
    async def main() -> None:
        await hello.cast_async(env={"NOT_GRANTED": "x"})

    with pytest.raises(spell.PolicyError, match="not granted"):
        asyncio.run(main())


def test_many_threads_record_every_cast_once(hello: spell.Spell) -> None:
    log = spell.UsageLog()
    threads = [threading.Thread(target=lambda: [hello.cast(["t"], meter=log) for _ in range(5)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = log.records()
    assert len(records) == 40 and len({r.cast_id for r in records}) == 40
    assert {r.outcome for r in records} == {"ok"}


def test_cancel_from_another_thread(guest: Callable[..., spell.Spell]) -> None:
    handle = spell.CancelHandle()
    threading.Timer(0.05, handle.cancel).start()
    outcome = guest("spin").cast(cancel=handle)
    assert outcome.outcome == "cancelled" and handle.cancelled


def test_cancelled_handle_ends_the_cast_at_once(guest: Callable[..., spell.Spell]) -> None:
    handle = spell.CancelHandle()
    handle.cancel()
    outcome = guest("spin").cast(cancel=handle)
    assert outcome.outcome == "cancelled" and outcome.usage.fuel == 0


def test_cancelling_the_task_cancels_the_cast(guest: Callable[..., spell.Spell]) -> None:
    log = spell.UsageLog()
    spin = guest("spin")

    async def main() -> None:
        task = asyncio.ensure_future(spin.cast_async(meter=log))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    for _ in range(500):  # the cast thread records within about one epoch tick; allow 5 s
        if len(log):
            break
        time.sleep(0.01)
    assert [r.outcome for r in log.records()] == ["cancelled"]


def test_busy_when_every_slot_is_taken(test_policy: spell.Policy) -> None:
    from conftest import guest_package

    runtime = spell.Runtime(max_concurrent_casts=1, queue_timeout=0.05, pooling=False)
    spin = runtime.load(guest_package("spin"), test_policy)
    started, handle = threading.Event(), spell.CancelHandle()

    class Signal:
        def authorize(self, ctx: spell.CastContext) -> None:
            started.set()

    first = threading.Thread(target=lambda: spin.cast(meter=Signal(), cancel=handle))
    first.start()
    assert started.wait(10)
    try:
        with pytest.raises(spell.RunError) as e:
            spin.cast()
        assert (e.value.code, e.value.name) == ("E-RUN-001", "busy")
    finally:
        handle.cancel()
        first.join()


def test_ctrl_c_cancels_a_blocking_cast_and_keeps_its_record(guest: Callable[..., spell.Spell]) -> None:
    log = spell.UsageLog()
    # Python's own handler, even when this process was started with SIGINT ignored (a
    # background job), where interrupt_main would do nothing.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Timer(0.1, _thread.interrupt_main).start()  # as Ctrl-C does, on the main thread
        with pytest.raises(KeyboardInterrupt):
            guest("spin").cast(meter=log)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert [r.outcome for r in log.records()] == ["cancelled"]

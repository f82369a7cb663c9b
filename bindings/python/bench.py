"""Per-cast latency from Python next to the same casts from Rust.

The Rust figure comes from `spell._spell._rust_cast_seconds`, which casts the same loaded spell
in a Rust loop with no Python in it, in the same process: the difference is what the binding
costs per cast (argument conversion, the per-cast meter, releasing and retaking the GIL, building
the outcome objects).

    python bindings/python/bench.py            # 2000 casts per figure
    python bindings/python/bench.py --quick    # 200, as test.sh runs it
"""

import argparse
import asyncio
import pathlib
import threading
import time
from typing import Callable, Optional

import spell
from spell import _spell

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOOP = {"name": "noop", "version": "1.0.0", "license": "MIT", "entrypoint": "_start"}


def per_cast(n: int, rounds: int, cast: Callable[[], object]) -> float:
    """The best of `rounds` means of `n` casts, in seconds."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            cast()
        best = min(best, (time.perf_counter() - start) / n)
    return best


def async_per_cast(n: int, rounds: int, target: spell.Spell) -> float:
    async def run() -> None:
        for _ in range(n):
            await target.cast_async()

    return per_cast(1, rounds, lambda: asyncio.run(run())) / n


def gathered_per_cast(n: int, in_flight: int, rounds: int, target: spell.Spell) -> float:
    """Seconds per cast when `in_flight` `cast_async` calls are awaited together, n in all."""

    async def run() -> None:
        for _ in range(n // in_flight):
            await asyncio.gather(*(target.cast_async() for _ in range(in_flight)))

    return per_cast(1, rounds, lambda: asyncio.run(run())) / (n // in_flight * in_flight)


def gathered_floor(n: int, in_flight: int, rounds: int) -> float:
    """`gathered_per_cast`'s harness with futures that are done already and no cast: what
    asyncio itself costs per awaited future, the floor under any async cast."""

    async def run() -> None:
        loop = asyncio.get_running_loop()

        def done() -> "asyncio.Future[None]":
            future = loop.create_future()
            future.set_result(None)
            return future

        for _ in range(n // in_flight):
            await asyncio.gather(*(done() for _ in range(in_flight)))

    return per_cast(1, rounds, lambda: asyncio.run(run())) / (n // in_flight * in_flight)


def threaded_per_cast(n: int, threads: int, target: spell.Spell) -> float:
    """Seconds per cast when `threads` threads each cast n / threads times."""
    workers = [threading.Thread(target=lambda: [target.cast() for _ in range(n // threads)]) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return (time.perf_counter() - start) / (n // threads * threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 casts per figure instead of 2000")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many rounds (default 3)")
    opts = parser.parse_args()
    n = 200 if opts.quick else 2000

    runtime = spell.Runtime()
    hello = runtime.load(ROOT / "examples" / "hello" / "hello.spell", spell.Policy.from_file(ROOT / "examples" / "policy.toml"))
    noop = runtime.load(spell.pack(NOOP, '(module (func (export "_start")))'), spell.Policy.from_toml("allow_unsigned = true"))
    for s in (hello, noop):
        assert s.cast(["bench"]).outcome == "ok"
        per_cast(20, 1, lambda: s.cast(["bench"]))  # warm up: caches, pooling slots

    def rust(target: spell.Spell, *args: str, threads: int = 1) -> float:
        return min(_spell._rust_cast_seconds(target, n, list(args), threads) for _ in range(opts.rounds))

    records: list[spell.Usage] = []
    log = spell.UsageLog()
    rows: list[tuple[str, float, Optional[float]]] = [
        ("noop module", per_cast(n, opts.rounds, lambda: noop.cast()), rust(noop)),
        ("hello (WASI, args)", per_cast(n, opts.rounds, lambda: hello.cast(["bench"])), rust(hello, "bench")),
        ("hello + UsageLog", per_cast(n, opts.rounds, lambda: hello.cast(["bench"], meter=log)), None),
        ("hello + Python record hook", per_cast(n, opts.rounds, lambda: hello.cast(["bench"], meter=records.append)), None),
        ("noop, cast_async awaited", async_per_cast(n, opts.rounds, noop), None),
        ("noop, 8 cast_async gathered", gathered_per_cast(n, 8, opts.rounds, noop), None),
        ("asyncio alone, 8 done gathered", gathered_floor(n, 8, opts.rounds), None),
        ("noop, 2 threads (throughput)", min(threaded_per_cast(n, 2, noop) for _ in range(opts.rounds)), rust(noop, threads=2)),
    ]
    print(f"per-cast latency, best of {opts.rounds} x {n} casts")
    print(f"{'scenario':<30} {'Python µs':>10} {'Rust µs':>10} {'overhead':>10}")
    for name, py, baseline in rows:
        rust_text = f"{baseline * 1e6:10.1f}" if baseline is not None else f"{'':>10}"
        overhead = f"{(py - baseline) * 1e6:+9.1f}" if baseline is not None else ""
        print(f"{name:<30} {py * 1e6:10.1f} {rust_text} {overhead:>10}")


if __name__ == "__main__":
    main()

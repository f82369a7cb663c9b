"""Casts the bundled example spell from Python: verified loading under a policy, arguments, env,
stdin, a metering hook, parallel casts from threads and asyncio, and a refusal with its code.

    pip install ./bindings/python && python examples/python/cast_hello.py
"""

import asyncio
import json
import pathlib
from concurrent.futures import ThreadPoolExecutor

import spell

ROOT = pathlib.Path(__file__).resolve().parents[2]


class Billing:
    """A metering hook: allows each cast at most 50 million fuel and keeps the usage records."""

    def __init__(self) -> None:
        self.records: list[spell.Usage] = []

    def authorize(self, ctx: spell.CastContext) -> spell.Allowance:
        return spell.Allowance(max_fuel=50_000_000)

    def record(self, usage: spell.Usage) -> None:
        self.records.append(usage)


def main() -> None:
    runtime = spell.Runtime()
    policy = spell.Policy.from_file(ROOT / "examples" / "policy.toml")
    hello = runtime.load(ROOT / "examples" / "hello" / "hello.spell", policy)

    billing = Billing()
    outcome = hello.cast(["Python"], stdin=b"stdin comes back\n", meter=billing)
    print(outcome.stdout.decode(), end="")
    print(json.dumps(outcome.usage.to_dict(), indent=2))
    assert outcome.outcome == "ok" and outcome.stdout.startswith(b"Hello, Python!")

    # Casts release the GIL: threads cast in parallel.
    with ThreadPoolExecutor(4) as pool:
        names = [f"thread {i}" for i in range(4)]
        greetings = list(pool.map(lambda n: hello.cast(env={"HELLO_NAME": n}, meter=billing).stdout, names))
    assert greetings == [f"Hello, {n}!\n".encode() for n in names]

    # asyncio: await casts without blocking the event loop.
    async def greet_all() -> list[spell.CastOutcome]:
        return list(await asyncio.gather(*(hello.cast_async([n], meter=billing) for n in ["a", "b"])))

    assert [o.stdout for o in asyncio.run(greet_all())] == [b"Hello, a!\n", b"Hello, b!\n"]
    print(f"{len(billing.records)} casts billed, {sum(r.fuel or 0 for r in billing.records)} fuel in total")

    # A refusal carries the stable code of the error catalog.
    try:
        hello.cast(env={"HOME": "/root"})
    except spell.PolicyError as e:
        print(f"refused: {e.code} {e.name}")


if __name__ == "__main__":
    main()

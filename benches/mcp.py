"""`spell mcp` figures: what the MCP server adds to a cast, and `tools/list` of 100 spells.

- **call overhead**: `tools/call` of the example tool (`examples/primes`, `{"below": 10}`) over
  stdio, one call at a time. For each call, the client's round trip (write the request, read the
  response) minus the cast's own wall time as the runtime measured it in process (the usage
  record's `wall_ns`, reported in the result's `_meta`) is what the server adds: JSON-RPC over
  pipes, argument validation against the input schema, the result and its `_meta`. The cast
  itself is the same in-process cast `spell cast` runs. Target: p99 of the added time <= 1 ms.
- **tools/list of 100 spells**: a folder of 100 packed tool spells, the server started (modules
  compiled into a fresh AOT cache by a first start, so this run loads them warm), then
  `tools/list` round trips. Target: < 50 ms.

The client speaks JSON-RPC on the server's pipes directly (no SDK) so the figures are the
server's, not a client library's. Nothing is written outside a temporary folder.

    cargo build --release -p spell-cli
    python3 benches/mcp.py [--calls 2000] [--lists 200] [--spell PATH]
"""

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
SPELL = TARGET / "release" / "spell"  # --spell overrides


class Server:
    """`spell mcp` as a child process, driven by newline-delimited JSON-RPC."""

    def __init__(self, args: list[str], cache: pathlib.Path) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SPELL_CACHE_DIR": str(cache)}
        self.proc = subprocess.Popen(
            [str(SPELL), "mcp", "--watch-every", "0s", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.next_id = 0
        self.request("initialize", {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "spell-bench", "version": "0"},
        })
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, message: dict) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def request(self, method: str, params: dict) -> dict:
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        assert self.proc.stdout is not None
        while True:
            message = json.loads(self.proc.stdout.readline())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(message["error"])
                return message["result"]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def pack(work: pathlib.Path, module: pathlib.Path, name: str, out: pathlib.Path) -> None:
    manifest = json.loads((ROOT / "examples/primes/spell.json").read_text())
    manifest["name"] = name
    src = work / "src"
    src.mkdir(exist_ok=True)
    shutil.copy(module, src / "module.wasm")
    (src / "spell.json").write_text(json.dumps(manifest))
    subprocess.run([str(SPELL), "pack", str(src), "-o", str(out)], check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    global SPELL
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--lists", type=int, default=200)
    parser.add_argument("--spell", type=pathlib.Path, default=SPELL, help="the spell binary")
    args = parser.parse_args()
    SPELL = args.spell
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        module = work / "primes.wasm"
        subprocess.run(
            ["clang-14", "--target=wasm32-wasi", "-O2", "-Wl,--strip-all",
             str(ROOT / "examples/primes/primes.c"), "-o", str(module)],
            check=True,
        )
        policy = work / "policy.toml"
        policy.write_text("allow_unsigned = true\n")
        cache = work / "cache"

        # Call overhead: one tool, calls one at a time.
        one = work / "one"
        one.mkdir()
        pack(work, module, "primes", one / "primes.spell")
        server = Server(["--policy", str(policy), str(one)], cache)
        rtt, cast, added = [], [], []
        for i in range(args.calls + 100):
            started = time.perf_counter_ns()
            result = server.request("tools/call", {"name": "primes", "arguments": {"below": 10}})
            elapsed = time.perf_counter_ns() - started
            assert not result.get("isError"), result
            wall = result["_meta"]["spell"]["usage"]["wall_ns"]
            if i >= 100:  # warm-up
                rtt.append(elapsed / 1e3)
                cast.append(wall / 1e3)
                added.append((elapsed - wall) / 1e3)
        pings = []
        for _ in range(args.calls):
            started = time.perf_counter_ns()
            server.request("ping", {})
            pings.append((time.perf_counter_ns() - started) / 1e3)
        server.close()

        # tools/list of 100 spells from warm caches.
        many = work / "many"
        many.mkdir()
        for i in range(100):
            pack(work, module, f"primes-{i:03}", many / f"primes-{i:03}.spell")
        Server(["--policy", str(policy), str(many)], cache).close()  # compiles into the cache
        started = time.perf_counter()
        server = Server(["--policy", str(policy), str(many)], cache)
        startup = (time.perf_counter() - started) * 1e3
        lists = []
        for _ in range(args.lists):
            started = time.perf_counter_ns()
            listed = server.request("tools/list", {})
            lists.append((time.perf_counter_ns() - started) / 1e6)
            assert len(listed["tools"]) == 100, len(listed["tools"])
        server.close()

    print(f"{'measure':<44} {'p50':>10} {'p99':>10}")
    for label, values, unit in [
        ("tools/call round trip (µs)", rtt, ""),
        ("  the cast in process, usage wall_ns (µs)", cast, ""),
        ("  added by the server (µs), target p99 <= 1000", added, ""),
        ("ping round trip (µs)", pings, ""),
        ("tools/list, 100 spells (ms), target < 50", lists, ""),
    ]:
        print(f"{label:<44} {percentile(values, 50):>10.1f} {percentile(values, 99):>10.1f}{unit}")
    print(f"{'start-up with 100 spells, warm cache (ms)':<44} {startup:>10.1f}")
    met = percentile(added, 99) <= 1000 and percentile(lists, 99) < 50
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()

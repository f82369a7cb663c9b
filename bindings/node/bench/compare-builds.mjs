// Two or more builds of the addon, cast in turn in one process, round after round: on a noisy
// machine only an interleaved comparison tells a few percent apart.
//
//   node bench/compare-builds.mjs ROUNDS CASTS DIR...
//
// Each DIR holds a copy of the package (index.js, spell.node, package.json), e.g. one copied
// before a change and one after. Per round and build: CASTS awaited one at a time, then CASTS
// with 8 in flight, of benches/fixtures/hello.wat; prints p25 and median of the batch means
// (wall and process CPU, microseconds per cast).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const [rounds, casts] = [Number(process.argv[2]), Number(process.argv[3])]
const dirs = process.argv.slice(4).map((d) => resolve(d))
const repo = fileURLToPath(new URL('../../../', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'spell-compare-'))
const builds = []
try {
  for (const dir of dirs) {
    const { Policy, Runtime, pack } = require(join(dir, 'index.js'))
    const path = join(work, 'hello-wat.spell')
    const manifest = JSON.stringify({ name: 'hello-wat', version: '1.0.0', license: 'MIT' })
    writeFileSync(path, pack(manifest, readFileSync(`${repo}benches/fixtures/hello.wat`)))
    const spell = await new Runtime().load(path, Policy.fromToml('allow_unsigned = true'))
    builds.push({ dir, spell, one: [], eight: [], cpuOne: [], cpuEight: [] })
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}

const options = { args: ['bench'] }
/** Mean wall and CPU microseconds per cast of `casts` casts, `inFlight` at a time. */
async function batch(spell, inFlight) {
  let next = 0
  const cpu = process.cpuUsage()
  const started = performance.now()
  const lane = async () => {
    while (next++ < casts) {
      const r = await spell.cast(options)
      if (r.outcome !== 'ok') throw new Error(`cast ended ${r.outcome}`)
    }
  }
  await Promise.all(Array.from({ length: inFlight }, lane))
  const used = process.cpuUsage(cpu)
  return [((performance.now() - started) * 1000) / casts, (used.user + used.system) / casts]
}

for (const b of builds) {
  await batch(b.spell, 1)
  await batch(b.spell, 8)
}
for (let r = 0; r < rounds; r++) {
  for (const b of builds) {
    const [wallOne, cpuOne] = await batch(b.spell, 1)
    const [wallEight, cpuEight] = await batch(b.spell, 8)
    b.one.push(wallOne)
    b.cpuOne.push(cpuOne)
    b.eight.push(wallEight)
    b.cpuEight.push(cpuEight)
  }
}
const at = (values, q) => [...values].sort((x, y) => x - y)[Math.round((values.length - 1) * q)].toFixed(1)
const quartiles = (values) => `${at(values, 0.25)}/${at(values, 0.5)}`
for (const b of builds) {
  console.log(`${b.dir}: one at a time wall ${quartiles(b.one)} cpu ${quartiles(b.cpuOne)}; 8 in flight wall ${quartiles(b.eight)} cpu ${quartiles(b.cpuEight)} (p25/median, us per cast)`)
}

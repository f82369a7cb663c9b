// Runtime.metrics(): served by the host on its own /metrics (node:http on 127.0.0.1), scraped with
// fetch and read by the small parser below, checked against the usage records of the casts that
// ran; and a cast joining a W3C trace.
//
// Why a parser of our own: npm's parse-prometheus-text-format (the one maintained parser) drops
// the labels, sum and count of labelled histograms, which is all of ours. This one reads the
// text format's sample lines (`name{k="v",...} value`, HELP/TYPE comments), refusing any other
// line, so a malformed exposition fails the test.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { Runtime, devPolicy, helloSpell } from './helpers.mjs'

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'

/** Serves `runtime.metrics()` on a free 127.0.0.1 port until `body` is done. */
async function serving(runtime, body) {
  const server = createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
    res.end(runtime.metrics())
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    return await body(`http://127.0.0.1:${server.address().port}/metrics`)
  } finally {
    server.close()
  }
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** The samples of a Prometheus text exposition: `{ name, labels, value }`. */
function parse(text) {
  const samples = []
  for (const line of text.split('\n')) {
    if (line === '' || /^# (HELP|TYPE) /.test(line)) continue
    const m = SAMPLE.exec(line)
    assert.ok(m, `not a sample line: ${line}`)
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(LABEL)].map((l) => [l[1], l[2]]))
    samples.push({ name: m[1], labels, value: Number(m[3]) })
  }
  return samples
}

async function scrape(url) {
  const response = await fetch(url)
  assert.equal(response.status, 200)
  return parse(await response.text())
}

const matches = (labels, want) => Object.entries(want).every(([k, v]) => labels[k] === v)

test('metrics served over HTTP match the usage records of the casts that ran', async () => {
  const runtime = new Runtime()
  const hello = await runtime.load(helloSpell, devPolicy)
  const usages = []
  for (const name of ['a', 'b', 'c']) usages.push((await hello.cast({ args: [name] })).usage)
  await assert.rejects(hello.cast({ env: { NOT_GRANTED: 'x' } }), { code: 'E-POL-004' })

  const samples = await serving(runtime, scrape)
  const spell = { spell: 'hello', version: '0.1.0' }
  const value = (name, labels = {}) =>
    samples.filter((s) => s.name === name && matches(s.labels, labels)).reduce((n, s) => n + s.value, 0)
  const sum = (f) => usages.reduce((n, u) => n + f(u), 0)

  assert.equal(value('faas_invocations_total', { ...spell, outcome: 'ok' }), 3)
  assert.equal(value('spell_refusals_total', { code: 'E-POL-004', stage: 'cast' }), 1)
  assert.equal(value('spell_casts_in_flight'), 0)
  assert.equal(value('spell_fuel_count', spell), 3)
  assert.equal(value('spell_fuel_sum', spell), sum((u) => u.fuel))
  assert.equal(value('faas_mem_usage_bytes_sum', spell), sum((u) => u.memoryPeakBytes))
  assert.ok(Math.abs(value('faas_invoke_duration_seconds_sum', spell) - sum((u) => u.wallNs) / 1e9) < 1e-9)
  assert.equal(value('faas_invoke_duration_seconds_bucket', { ...spell, le: '+Inf' }), 3)
  const bounds = samples.filter((s) => s.name === 'faas_invoke_duration_seconds_bucket').map((s) => (s.labels.le === '+Inf' ? Infinity : Number(s.labels.le)))
  assert.equal(Math.min(...bounds), 1e-6, 'buckets resolve microseconds')
})

test('a cast joins the caller\'s trace and its usage names it', async () => {
  const runtime = new Runtime()
  const hello = await runtime.load(helloSpell, devPolicy)
  const traced = await hello.cast({ traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01`, tracestate: 'a=1' })
  assert.equal(traced.usage.traceId, TRACE_ID)
  assert.equal((await hello.cast()).usage.traceId, undefined)
  await assert.rejects(hello.cast({ traceparent: '00-not-a-trace' }), { code: 'E-POL-004' })
})

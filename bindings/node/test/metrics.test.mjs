// Runtime.metrics(): served by the host on its own /metrics (node:http on 127.0.0.1), scraped with
// fetch and read with a real Prometheus text parser, checked against the usage records of the
// casts that ran; and a cast joining a W3C trace.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
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

/** The families of a scrape by name. */
async function scrape(url) {
  const response = await fetch(url)
  assert.equal(response.status, 200)
  return new Map(parsePrometheusTextFormat(await response.text()).map((f) => [f.name, f]))
}

const matches = (labels, want) => Object.entries(want).every(([k, v]) => labels?.[k] === v)

test('metrics served over HTTP match the usage records of the casts that ran', async () => {
  const runtime = new Runtime()
  const hello = await runtime.load(helloSpell, devPolicy)
  const usages = []
  for (const name of ['a', 'b', 'c']) usages.push((await hello.cast({ args: [name] })).usage)
  await assert.rejects(hello.cast({ env: { NOT_GRANTED: 'x' } }), { code: 'cast_request_denied' })

  const families = await serving(runtime, scrape)
  const spell = { spell: 'hello', version: '0.1.0' }
  const counter = (name, labels) =>
    families.get(name).metrics.filter((m) => matches(m.labels, labels)).reduce((n, m) => n + Number(m.value), 0)
  const histogram = (name) => families.get(name).metrics.find((m) => matches(m.labels, spell))
  const sum = (f) => usages.reduce((n, u) => n + f(u), 0)

  assert.equal(counter('faas_invocations_total', { ...spell, outcome: 'ok' }), 3)
  assert.equal(counter('spell_refusals_total', { code: 'E-POL-004', stage: 'cast' }), 1)
  assert.equal(counter('spell_casts_in_flight', {}), 0)
  const fuel = histogram('spell_fuel')
  assert.equal(Number(fuel.count), 3)
  assert.equal(Number(fuel.sum), sum((u) => u.fuel))
  assert.equal(Number(histogram('faas_mem_usage_bytes').sum), sum((u) => u.memoryPeakBytes))
  const wall = histogram('faas_invoke_duration_seconds')
  assert.ok(Math.abs(Number(wall.sum) - sum((u) => u.wallNs) / 1e9) < 1e-9)
  assert.equal(Number(wall.buckets['+Inf']), 3)
  assert.ok('1e-06' in wall.buckets || '0.000001' in wall.buckets, Object.keys(wall.buckets).join(' '))
})

test('a cast joins the caller\'s trace and its usage names it', async () => {
  const runtime = new Runtime()
  const hello = await runtime.load(helloSpell, devPolicy)
  const traced = await hello.cast({ traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01`, tracestate: 'a=1' })
  assert.equal(traced.usage.traceId, TRACE_ID)
  assert.equal((await hello.cast()).usage.traceId, undefined)
  await assert.rejects(hello.cast({ traceparent: '00-not-a-trace' }), { code: 'cast_request_denied' })
})

// Casts run off the event loop: timers keep firing, casts overlap, an AbortSignal cancels.
// The numbers asserted are generous; the measured ones are printed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { Runtime, SpellError, devPolicy, fixture, roomy } from './helpers.mjs'

const runtime = new Runtime()
const limits = await runtime.load(fixture('limits', `"entrypoint":"spin",${roomy}`), devPolicy)

test('the event loop keeps ticking while a CPU-bound cast runs', async (t) => {
  const every = 10
  let ticks = 0
  let worstLag = 0
  let last = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    worstLag = Math.max(worstLag, now - last - every)
    last = now
    ticks++
  }, every)
  const r = await limits.cast({ limits: { wallTimeMs: 500 } })
  clearInterval(timer)
  t.diagnostic(`500 ms spinning cast: ${ticks} timer ticks of ${every} ms, worst timer lag ${worstLag.toFixed(1)} ms, cast cpu ${(r.usage.cpuNs / 1e6).toFixed(0)} ms`)
  assert.equal(r.outcome, 'timeout')
  assert.ok(r.usage.cpuNs > 200e6, 'the guest really used the CPU')
  // Blocked, the loop would see one tick and a lag of about 500 ms.
  assert.ok(ticks >= 10, `only ${ticks} ticks`)
  assert.ok(worstLag < 100, `timer lag ${worstLag} ms`)
})

test('concurrent casts overlap in time', async (t) => {
  const n = 4
  const started = performance.now()
  const results = await Promise.all(Array.from({ length: n }, () => limits.cast({ limits: { wallTimeMs: 300 } })))
  const elapsed = performance.now() - started
  const spans = results.map((r) => [r.usage.startedAtMs, r.usage.startedAtMs + r.usage.wallNs / 1e6])
  const latestStart = Math.max(...spans.map((s) => s[0]))
  const earliestEnd = Math.min(...spans.map((s) => s[1]))
  t.diagnostic(`${n} casts of 300 ms each took ${elapsed.toFixed(0)} ms together; all ran during ${(earliestEnd - latestStart).toFixed(0)} ms at once`)
  assert.ok(results.every((r) => r.outcome === 'timeout'))
  assert.ok(latestStart < earliestEnd, 'some instant when every cast was running')
  assert.ok(elapsed < n * 300 * 0.75, `${elapsed} ms is serial`)
})

test('an AbortSignal cancels a running cast', async (t) => {
  const controller = new AbortController()
  const records = []
  const cast = limits.cast({ signal: controller.signal, meter: { record: (u) => records.push(u) } })
  let abortedAt = 0
  setTimeout(() => {
    abortedAt = performance.now()
    controller.abort()
  }, 50)
  const r = await cast
  const afterAbort = performance.now() - abortedAt
  t.diagnostic(`the cast ended ${afterAbort.toFixed(1)} ms after the abort (its wall limit: 30 s; cast wall ${(r.usage.wallNs / 1e6).toFixed(0)} ms)`)
  assert.equal(r.outcome, 'cancelled')
  assert.match(r.detail, /cancelled/)
  assert.equal(records.length, 1)
  assert.ok(afterAbort < 5_000)
})

test('one signal serves several casts and keeps no listener once they end', async () => {
  const controller = new AbortController()
  const { signal } = controller
  for (let round = 0; round < 3; round++) {
    // Each running cast listens once (Node warns above 10 listeners on one signal); a cast
    // that ends within its eager budget has let go by the time cast() returns.
    const quick = Array.from({ length: 8 }, () => limits.cast({ export: 'hello', signal }))
    assert.ok(getEventListeners(signal, 'abort').length <= 8)
    assert.ok((await Promise.all(quick)).every((r) => r.outcome === 'ok'))
    assert.equal(getEventListeners(signal, 'abort').length, 0)
    const slow = Array.from({ length: 8 }, () => limits.cast({ limits: { wallTimeMs: 20 }, signal }))
    assert.equal(getEventListeners(signal, 'abort').length, 8)
    assert.ok((await Promise.all(slow)).every((r) => r.outcome === 'timeout'))
    assert.equal(getEventListeners(signal, 'abort').length, 0)
  }
  const running = limits.cast({ signal })
  controller.abort()
  assert.equal((await running).outcome, 'cancelled')
})

test('casts beyond the concurrency cap fail with busy after the queue timeout', async () => {
  const small = new Runtime({ maxConcurrentCasts: 1, queueTimeoutMs: 20 })
  const spell = await small.load(fixture('limits', `"entrypoint":"spin",${roomy}`), devPolicy)
  const first = spell.cast({ limits: { wallTimeMs: 400 } })
  await new Promise((resolve) => setTimeout(resolve, 50))
  await assert.rejects(spell.cast(), (e) => e instanceof SpellError && e.code === 'E-RUN-001' && e.codeName === 'busy')
  assert.equal((await first).outcome, 'timeout')
})

// Metering hooks in JS: exactly once per cast, async allowed, failures typed and never lost.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Runtime, SpellError, countingMeter, devPolicy, fixture, roomy } from './helpers.mjs'

const runtime = new Runtime()
const limits = await runtime.load(fixture('limits', `"entrypoint":"hello",${roomy}`), devPolicy)

test('authorize and record run exactly once per cast, whatever the outcome', async () => {
  const meter = countingMeter()
  const exports = ['hello', 'trap', 'exit3', 'grow']
  const results = []
  for (const e of exports) results.push(await limits.cast({ export: e, meter }))
  const denied = await limits.cast({ meter: { ...meter, authorize: () => ({ deny: 'over quota' }) } })
  assert.equal(meter.authorized.length, exports.length)
  assert.equal(meter.records.length, exports.length + 1, 'denied casts are recorded too')
  assert.deepEqual(meter.records.map((r) => r.outcome), ['ok', 'trap', 'exit', 'memory_limit', 'denied'])
  assert.deepEqual(meter.records.map((r) => r.castId), [...results, denied].map((r) => r.usage.castId))
  assert.deepEqual(meter.authorized.map((c) => c.castId), results.map((r) => r.usage.castId))
  const ctx = meter.authorized[0]
  assert.equal(ctx.spellName, 'limits')
  assert.equal(ctx.spellVersion, '1.0.0')
  assert.equal(ctx.spellDigest, limits.digest)
  assert.deepEqual(ctx.limits, { memoryBytes: 4194304, fuel: 1e10, wallTimeMs: 30000, outputBytes: 65536, netRequests: 64, netBytes: 64 << 20, openFiles: 256, diskWriteBytes: 64 << 20 })
})

test('observe sees the limit that ended the cast before the cast resolves', async () => {
  const meter = countingMeter()
  const r = await limits.cast({ export: 'grow', meter })
  assert.equal(r.outcome, 'memory_limit')
  assert.equal(meter.events.length, 1)
  const [event] = meter.events
  assert.deepEqual([event.castId, event.type, event.outcome, event.capability], [r.usage.castId, 'limit_hit', 'memory_limit', undefined])
  assert.match(meter.events[0].detail, /memory limit of 4194304 bytes/)
})

test('hooks may be async, and are called with the meter as this', async () => {
  const ticks = []
  class Billing {
    constructor() { this.budget = 20000; this.spent = 0 }
    async authorize() {
      await new Promise((resolve) => setTimeout(resolve, 5))
      ticks.push('authorize')
      return { maxFuel: this.budget - this.spent }
    }
    async record(usage) {
      await new Promise((resolve) => setImmediate(resolve))
      this.spent += usage.fuel ?? 0
      ticks.push('record')
    }
  }
  const billing = new Billing()
  const first = await limits.cast({ export: 'spin', meter: billing })
  assert.equal(first.outcome, 'out_of_fuel')
  assert.equal(billing.spent, 20000)
  assert.deepEqual(ticks, ['authorize', 'record'], 'the cast resolves after its record hook settled')
})

test('an authorize that throws denies the cast, records it, and reports a typed hook error', async () => {
  const records = []
  const r = await limits.cast({ meter: { authorize() { throw new TypeError('billing db down') }, record: (u) => records.push(u) } })
  assert.equal(r.outcome, 'denied')
  assert.match(r.detail, /authorize hook failed: billing db down/)
  assert.ok(r.hookError instanceof SpellError)
  assert.deepEqual([r.hookError.code, r.hookError.codeName, r.hookError.hook], ['E-RUN-004', 'hook_failed', 'authorize'])
  assert.equal(records.length, 1, 'the usage record is not lost')
  assert.equal(records[0].outcome, 'denied')
})

test('a record that rejects keeps the outcome and reports the failure', async () => {
  const r = await limits.cast({ meter: { record: async () => { throw new Error('store unreachable') } } })
  assert.equal(r.outcome, 'ok')
  assert.equal(r.stdout.toString(), 'spell says hi\n')
  assert.equal(r.hookError.hook, 'record')
  assert.match(r.hookError.message, /record hook failed: store unreachable/)
})

test('an observe that throws does not change the outcome and is reported', async () => {
  const r = await limits.cast({ export: 'grow', meter: { observe() { throw new Error('pager down') } } })
  assert.equal(r.outcome, 'memory_limit')
  assert.equal(r.hookError.hook, 'observe')
  assert.match(r.hookError.message, /observe hook failed: pager down/)
  const thrownString = await limits.cast({ export: 'grow', meter: { observe() { throw 'not an Error' } } })
  assert.match(thrownString.hookError.message, /not an Error/)
})

test('an allowance of the wrong shape fails closed', async () => {
  const r = await limits.cast({ meter: { authorize: () => ({ maxFuel: -1 }) } })
  assert.equal(r.outcome, 'denied')
  assert.equal(r.hookError.hook, 'authorize')
  assert.match(r.hookError.message, /maxFuel/)
  const odd = await limits.cast({ meter: { authorize: () => 'yes' } })
  assert.equal(odd.outcome, 'denied')
})

test('the runtime-wide meter sees casts that name no meter of their own', async () => {
  const shared = countingMeter()
  const own = countingMeter()
  const rt = new Runtime({ meter: shared })
  const spell = await rt.load(fixture('limits', `"entrypoint":"hello",${roomy}`), devPolicy)
  await spell.cast()
  await spell.cast({ args: [] })
  await spell.cast({ meter: own })
  assert.deepEqual([shared.records.length, own.records.length], [2, 1])
})

test('a hook can await another cast without deadlocking', async () => {
  const inner = await limits.cast({ export: 'answer' })
  const r = await limits.cast({
    meter: {
      async authorize() {
        const nested = await limits.cast({ export: 'answer' })
        return { maxFuel: nested.returned[0] * 1000 }
      },
    },
  })
  assert.equal(inner.returned[0], 42)
  assert.equal(r.outcome, 'ok')
})

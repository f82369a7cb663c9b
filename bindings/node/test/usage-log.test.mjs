// The ready-made UsageLog meter (the Rust one, as in Python): records, events, a fuel budget.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Runtime, UsageLog, devPolicy, fixture, roomy } from './helpers.mjs'

const limits = await new Runtime().load(fixture('limits', `"entrypoint":"hello",${roomy}`), devPolicy)

test('a UsageLog keeps the records and events of the casts it meters', async () => {
  const log = new UsageLog()
  const ok = await limits.cast({ meter: log })
  const flooded = await limits.cast({ export: 'flood', limits: { outputBytes: 1000 }, meter: log })
  await limits.cast()
  assert.deepEqual(log.records().map((r) => [r.outcome, r.castId]), [['ok', ok.usage.castId], ['output_limit', flooded.usage.castId]])
  assert.equal(log.records()[1].stdoutBytes + log.records()[1].stderrBytes, 1000)
  assert.deepEqual(log.events().map((e) => [e.type, e.outcome, e.castId]), [['limit_hit', 'output_limit', flooded.usage.castId]])
})

test('a UsageLog with a fuel budget caps its casts, then denies them', async () => {
  const log = new UsageLog({ fuelBudget: 5000 })
  const first = await limits.cast({ export: 'spin', meter: log })
  assert.equal(first.outcome, 'out_of_fuel')
  assert.equal(first.usage.fuel, 5000)
  const second = await limits.cast({ meter: log })
  assert.equal(second.outcome, 'denied')
  assert.match(second.detail, /fuel budget of 5000 is spent/)
  assert.throws(() => new UsageLog({ fuelBudget: -1 }), /whole number/)
})

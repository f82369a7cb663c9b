// Rescans from Node: a policy revocation takes effect on a loaded spell, with the same codes,
// report and event as in Rust.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Policy, Runtime, SpellError, countingMeter, fixture, roomy } from './helpers.mjs'

const policyText = 'allow_unsigned = true\n'

test('a revoked digest takes effect at rescan: the next cast rejects with E-SIG-008', async () => {
  const meter = countingMeter()
  const runtime = new Runtime({ meter })
  const spell = await runtime.load(fixture('limits', `"entrypoint":"hello",${roomy}`), Policy.fromToml(policyText))
  assert.equal((await spell.cast()).outcome, 'ok')
  assert.deepEqual(await runtime.rescan(Policy.fromToml(policyText)), { spells: 1, changes: [] })

  const revoking = Policy.fromToml(`${policyText}[trust]\nrevoked_digests = ["${spell.digest}"]\n`)
  const report = await runtime.rescan(revoking)
  assert.equal(report.changes.length, 1)
  const [change] = report.changes
  assert.deepEqual([change.name, change.digest, change.before.verdict, change.after.verdict, change.after.code],
    ['limits', spell.digest, 'accepted', 'refused', 'E-SIG-009'])
  const revoked = meter.events.filter((e) => e.type === 'spell_revoked')
  assert.deepEqual(revoked.map((e) => [e.castId, e.spellName, e.spellDigest, e.code]), [['', 'limits', spell.digest, 'E-SIG-009']])

  const records = meter.records.length
  await assert.rejects(spell.cast(), (err) => err instanceof SpellError && err.code === 'E-SIG-008' && /E-SIG-009/.test(err.message))
  assert.equal(meter.records.length, records, 'nothing ran, nothing recorded')
  await assert.rejects(runtime.rescan('not a policy'), (err) => err.code === 'E-RUN-006')
})

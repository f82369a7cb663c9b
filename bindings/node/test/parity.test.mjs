// The cross-language parity suite: each scenario of bindings/parity/scenarios.json cast from Node
// must give, field by field, the outcome the Rust run recorded in expected.json.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { Policy, Runtime, pack, repo } from './helpers.mjs'

const dir = `${repo}bindings/parity/`
const suite = JSON.parse(readFileSync(`${dir}scenarios.json`, 'utf8'))
const expected = JSON.parse(readFileSync(`${dir}expected.json`, 'utf8'))

/** Refuses or fails as a scenario's `meter` says: JS's way is `{ deny }` or a throw. */
function scenarioMeter(says) {
  return {
    authorize() {
      if (says.authorize === 'deny') return { deny: 'parity: no budget' }
      if (says.authorize === 'fail') throw new Error('parity: budget store down')
    },
    observe() {
      if (says.observe === 'fail') throw new Error('parity: event sink down')
    },
    record() {
      if (says.record === 'fail') throw new Error('parity: ledger down')
    },
  }
}

/** `value` without each dotted path of `paths`. */
function without(value, paths) {
  for (const path of paths) {
    const keys = path.split('.')
    const last = keys.pop()
    const parent = keys.reduce((at, k) => (at && typeof at === 'object' ? at[k] : undefined), value)
    if (parent && typeof parent === 'object') delete parent[last]
  }
  return value
}

const fail = () => { throw new Error(suite.host_failure) }
const runtime = new Runtime({ hostFunctions: [{ module: 'parity', name: 'fail', results: ['i32'], func: fail }] })
const spell = await runtime.load(
  pack(JSON.stringify(suite.manifest), readFileSync(`${dir}guest.wat`)),
  Policy.fromToml(suite.policy),
)

for (const s of suite.scenarios) {
  test(`parity: ${s.name} matches the Rust run`, async () => {
    const options = { export: s.export, signal: s.cancel ? AbortSignal.abort() : undefined }
    if (s.meter) options.meter = scenarioMeter(s.meter)
    if (s.limits) options.limits = Object.fromEntries(Object.entries(s.limits).map(([k, v]) => [k.replace(/_(.)/g, (_, c) => c.toUpperCase()), v]))
    const r = await spell.cast(options)
    const shape = without(without(JSON.parse(JSON.stringify(r)), suite.volatile), s.volatile ?? [])
    assert.deepEqual(shape, expected[s.name])
  })
}

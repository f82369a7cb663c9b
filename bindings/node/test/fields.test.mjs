// Parity with the Rust types: the cast result, its usage record and the limits have every field
// of schema/fields.json (generated from the Rust types by spell-runtime's `fields_are_current`),
// as camelCase properties, in index.d.ts and, snake_case, in the result's toJSON().
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { Runtime, devPolicy, fixture, helloSpell, roomy } from './helpers.mjs'
import { jsonFields } from '../index.js'

const fields = JSON.parse(readFileSync(new URL('../../../schema/fields.json', import.meta.url), 'utf8'))
const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase())
const sorted = (names) => [...names].sort()
const declarations = readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8')
// The bodies of every `export interface <name> { ... }` in index.d.ts (declarations merge).
const declared = (name) => [...declarations.matchAll(new RegExp(`export interface ${name} \\{([^}]*)\\}`, 'g'))].map((m) => m[1]).join('\n')

test('the addon lists the fields of schema/fields.json', () => {
  const listed = jsonFields()
  for (const part of ['outcome', 'usage', 'limits']) assert.deepEqual(sorted(listed[part]), fields[part], part)
})

test('a cast result and its usage record have every field, declared and in toJSON()', async () => {
  const runtime = new Runtime()
  let context
  const hello = await runtime.load(helloSpell, devPolicy)
  // With a trace, so the optional fields are all present.
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
  const r = await hello.cast({ args: ['fields'], traceparent, meter: { authorize: (ctx) => void (context = ctx) } })
  for (const name of fields.usage) {
    assert.ok(camel(name) in r.usage, `usage.${camel(name)}`)
    assert.match(declared('Usage'), new RegExp(`\\b${camel(name)}\\??:`), `Usage declares ${camel(name)}`)
  }
  for (const name of fields.outcome) {
    assert.match(declared('CastResult'), new RegExp(`\\b${camel(name)}\\??:`), `CastResult declares ${camel(name)}`)
  }
  for (const name of fields.limits) assert.equal(typeof context.limits[camel(name)], 'number', `limits.${camel(name)}`)

  const json = JSON.parse(JSON.stringify(r))
  assert.deepEqual(Object.keys(json).sort(), fields.outcome)
  assert.deepEqual(Object.keys(json.usage).sort(), fields.usage)
  assert.equal(json.stdout, 'Hello, fields!\n')
  assert.equal(json.usage.spell_name, 'hello')
  assert.equal(json.usage.fuel, r.usage.fuel)
  assert.equal(json.trap, null)
})

test('a trap and a failing hook in the shared shape', async () => {
  const limits = await new Runtime().load(fixture('limits', `"entrypoint":"hello",${roomy}`), devPolicy)
  const trap = (await limits.cast({ export: 'trap', meter: { record: () => { throw new Error('store down') } } })).toJSON()
  assert.equal(trap.outcome, 'trap')
  assert.equal(trap.trap, 'unreachable_code_reached')
  assert.deepEqual([trap.hook_error.code, trap.hook_error.name, trap.hook_error.hook], ['E-RUN-004', 'hook_failed', 'record'])
})

// Host functions in JS: called with guest arguments and memory, sync or async; failures trap.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { HostCall, Runtime, SpellError, devPolicy, fixture, pack } from './helpers.mjs'

const lines = []
const castIds = []
/** The four functions host.wat imports; `overrides` replaces some, by `module::name`. */
function hostFunctions(overrides = {}) {
  const all = [
    { module: 'math', name: 'add', params: ['i32', 'i32'], results: ['i32'], func: ([a, b]) => a + b },
    {
      module: 'log', name: 'line', params: ['i32', 'i32'],
      func: ([ptr, len], call) => {
        assert.ok(call instanceof HostCall)
        castIds.push(call.castId)
        lines.push(call.readString(ptr, len))
      },
    },
    {
      module: 'kv', name: 'get', params: ['i64'], results: ['i64'],
      func: async ([key]) => {
        await new Promise((resolve) => setTimeout(resolve, 5))
        return key + 1n
      },
    },
    {
      module: 'mem', name: 'fill', params: ['i32', 'i32'],
      func: async ([ptr, len], call) => {
        await new Promise((resolve) => setImmediate(resolve))
        call.write(ptr, Buffer.alloc(len, 0x2a))
        return []
      },
    },
  ]
  return all.map((f) => ({ ...f, func: overrides[`${f.module}::${f.name}`] ?? f.func }))
}
const manifest = '"entrypoint":"run","capabilities":{"host_functions":["math::add","log::line","kv::get","mem::fill"]}'
const load = (overrides) => new Runtime({ hostFunctions: hostFunctions(overrides) }).load(fixture('host', manifest), devPolicy)
const host = await load()

test('granted host functions get the guest arguments and read its memory', async () => {
  const r = await host.cast()
  assert.equal(r.outcome, 'ok')
  assert.deepEqual(r.returned, [42])
  assert.deepEqual(lines, ['from the guest'])
  assert.deepEqual(castIds, [r.usage.castId])
})

test('an async host function answers with a bigint for an i64', async () => {
  const r = await host.cast({ export: 'big' })
  assert.deepEqual(r.returned, [42n])
})

test('a host function writes into guest memory, even after awaiting', async () => {
  const r = await host.cast({ export: 'fill' })
  assert.deepEqual(r.returned, [0x2a2a2a2a])
})

test('a HostCall refuses use once its function has answered', async () => {
  let kept
  const spell = await load({ 'log::line': (_, call) => { kept = call } })
  assert.equal((await spell.cast()).outcome, 'ok')
  assert.throws(() => kept.read(0, 4), (e) => e instanceof SpellError && e.code === 'E-RUN-006' && /over/.test(e.message))
})

test('a bad guest pointer, a throw, a rejection or a wrong result ends the cast as a host_error trap', async () => {
  const bad = await host.cast({ export: 'bad' })
  assert.deepEqual([bad.outcome, bad.trap], ['trap', 'host_error'])
  assert.match(bad.detail, /out of bounds/)

  const thrown = await (await load({ 'math::add': () => { throw new RangeError('no adding today') } })).cast()
  assert.deepEqual([thrown.outcome, thrown.trap], ['trap', 'host_error'])
  assert.match(thrown.detail, /math::add.*no adding today/)
  // The runtime keeps the failure as the cast's hookError, named after the function.
  assert.ok(thrown.hookError instanceof SpellError)
  assert.deepEqual([thrown.hookError.code, thrown.hookError.hook], ['E-RUN-004', 'math::add'])
  assert.match(thrown.hookError.message, /no adding today/)

  const rejected = await (await load({ 'log::line': () => Promise.reject(new Error('log full')) })).cast()
  assert.equal(rejected.trap, 'host_error')
  assert.match(rejected.detail, /log::line.*log full/)

  const wrong = await (await load({ 'kv::get': () => 1.5 })).cast({ export: 'big' })
  assert.equal(wrong.trap, 'host_error')
  assert.match(wrong.detail, /bigint or a safe integer/)

  const tooMany = await (await load({ 'math::add': () => [1, 2] })).cast()
  assert.match(tooMany.detail, /returned 2 values, the signature has 1/)

  assert.deepEqual((await host.cast({ export: 'big' })).returned, [42n], 'other runtimes are unaffected')
})

test('imports nobody registered or granted are refused at load, all listed', async () => {
  const bare = new Runtime()
  await assert.rejects(bare.load(fixture('host', manifest), devPolicy), (e) => {
    assert.ok(e instanceof SpellError)
    assert.deepEqual([e.code, e.codeName], ['E-MOD-003', 'import_not_granted'])
    for (const name of ['math::add', 'log::line', 'kv::get', 'mem::fill']) assert.match(e.message, new RegExp(name))
    return true
  })
})

test('invalid registrations are refused when the runtime is built', () => {
  const f = { module: 'spell', name: 'x', func: () => {} }
  assert.throws(() => new Runtime({ hostFunctions: [f] }), { code: 'E-RUN-003', codeName: 'host_function_invalid' })
  const twice = { module: 'kv', name: 'get', func: () => {} }
  assert.throws(() => new Runtime({ hostFunctions: [twice, twice] }), { code: 'E-RUN-003' })
  assert.throws(() => new Runtime({ hostFunctions: [{ module: 'kv', name: 'get', params: ['i128'], func: () => {} }] }), { code: 'E-RUN-006' })
  assert.throws(() => new Runtime({ hostFunctions: [{ module: 'kv', name: 'get' }] }), { code: 'E-RUN-006' })
})

test('a component calls JS host functions by value; a throw is its hookError', async () => {
  const wat = `(component
    (import "math" (instance $math
      (export "add" (func (param "a" s32) (param "b" s32) (result s32)))))
    (core func $add (canon lower (func $math "add")))
    (core module $m
      (import "math" "add" (func $add (param i32 i32) (result i32)))
      (func (export "sum") (result i32) (call $add (i32.const 40) (i32.const 2))))
    (core instance $i (instantiate $m (with "math" (instance (export "add" (func $add))))))
    (func (export "sum") (result s32) (canon lift (core func $i "sum"))))`
  const pkg = pack('{"name":"comp","version":"1.0.0","license":"MIT","entrypoint":"sum","capabilities":{"host_functions":["math::add"]}}', wat)
  const runtime = (overrides) => new Runtime({ hostFunctions: hostFunctions(overrides) })
  const component = await runtime().load(pkg, devPolicy)
  assert.deepEqual((await component.cast()).returned, [42])
  const throwing = await runtime({ 'math::add': () => { throw new Error('no adding today') } }).load(pkg, devPolicy)
  const r = await throwing.cast()
  assert.deepEqual([r.outcome, r.trap, r.hookError?.hook], ['trap', 'host_error', 'math::add'])
})

// Loading and casting: the bundled example, every outcome, returned values, usage records.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { Runtime, Spell, devPolicy, fixture, helloSpell, pack, roomy } from './helpers.mjs'

const runtime = new Runtime()
const limits = await runtime.load(fixture('limits', `"entrypoint":"hello",${roomy}`), devPolicy)

test('the bundled example greets its argument, its env variable, and echoes stdin', async () => {
  const hello = await runtime.load(helloSpell, devPolicy)
  assert.ok(hello instanceof Spell)
  assert.deepEqual([hello.name, hello.version, hello.entrypoint], ['hello', '0.1.0', '_start'])
  assert.deepEqual(hello.grant.env, ['HELLO_NAME'])
  assert.equal(typeof hello.grant.limits.fuel, 'number')
  assert.match(hello.digest, /^[0-9a-f]{64}$/)

  const byArg = await hello.cast({ args: ['node'], stdin: 'piped in\n' })
  assert.equal(byArg.outcome, 'ok')
  assert.equal(byArg.exitCode, 0)
  assert.equal(byArg.stdout.toString(), 'Hello, node!\npiped in\n')
  assert.equal(byArg.stderr.length, 0)
  assert.equal(byArg.hookError, undefined)

  const byEnv = await hello.cast({ env: { HELLO_NAME: 'env' }, stdin: Buffer.from([0x68, 0x69]) })
  assert.equal(byEnv.stdout.toString(), 'Hello, env!\nhi')
  assert.equal((await hello.cast()).stdout.toString(), 'Hello, world!\n')
})

test('stdout and stderr come apart, each a Buffer of its own bytes', async () => {
  // Writes "out\n" to stdout, then "error\n" to stderr.
  const wat = `(module
    (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 32) "out\\nerror\\n")
    (func (export "_start")
      (i32.store (i32.const 0) (i32.const 32)) (i32.store (i32.const 4) (i32.const 4))
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (i32.store (i32.const 0) (i32.const 36)) (i32.store (i32.const 4) (i32.const 6))
      (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))))`
  const both = await runtime.load(pack('{"name":"both","version":"1.0.0","license":"MIT"}', Buffer.from(wat)), devPolicy)
  const r = await both.cast()
  assert.ok(Buffer.isBuffer(r.stdout) && Buffer.isBuffer(r.stderr))
  assert.deepEqual([r.stdout.toString(), r.stderr.toString()], ['out\n', 'error\n'])
  assert.deepEqual([r.usage.stdoutBytes, r.usage.stderrBytes], [4, 6])
  r.stdout.fill(0x21)
  assert.equal(r.stderr.toString(), 'error\n', 'filling stdout leaves stderr as it was')
  assert.deepEqual(r.toJSON().stdout, '!!!!')

  // Past 64 KiB the output is handed over rather than copied: the same shape.
  const wide = await runtime.load(fixture('limits', `"entrypoint":"flood",${roomy.replace('65536', '200000')}`), devPolicy)
  const flood = await wide.cast()
  assert.equal(flood.outcome, 'output_limit')
  assert.ok(flood.stdout.length > 65536, `${flood.stdout.length} bytes`)
  assert.deepEqual([flood.stdout.length, flood.stderr.length], [flood.usage.stdoutBytes, flood.usage.stderrBytes])
})

test('a package given as bytes loads like one given as a path, from the module cache', async () => {
  const rt = new Runtime()
  const fromPath = await rt.load(helloSpell, devPolicy)
  const fromBytes = await rt.load(readFileSync(helloSpell), devPolicy)
  assert.equal(fromPath.digest, fromBytes.digest)
  assert.deepEqual(rt.stats(), { compiled: 1, memoryHits: 1, diskHits: 0, diskRejected: 0 })
})

test('each outcome reaches JS with its detail and usage record', async () => {
  const cases = [
    [{}, 'ok'],
    [{ export: 'exit3' }, 'exit'],
    [{ export: 'trap' }, 'trap'],
    [{ export: 'spin', limits: { wallTimeMs: 100 } }, 'timeout'],
    [{ export: 'spin', limits: { fuel: 100000 } }, 'out_of_fuel'],
    [{ export: 'grow' }, 'memory_limit'],
    [{ export: 'flood', limits: { outputBytes: 1000 } }, 'output_limit'],
    [{ export: 'spin', signal: AbortSignal.abort() }, 'cancelled'],
    [{ meter: { authorize: () => ({ deny: 'no budget left' }) } }, 'denied'],
  ]
  for (const [options, expected] of cases) {
    const r = await limits.cast(options)
    assert.equal(r.outcome, expected, JSON.stringify(options))
    assert.equal(r.usage.outcome, expected)
    assert.match(r.usage.castId, /^[0-9a-f]{32}$/)
    assert.equal(r.usage.spellName, 'limits')
    assert.equal(r.usage.spellDigest, limits.digest)
    if (!['ok', 'exit'].includes(expected)) assert.ok(r.detail, `${expected} has a detail`)
  }
  const exit = await limits.cast({ export: 'exit3' })
  assert.equal(exit.exitCode, 3)
  const trap = await limits.cast({ export: 'trap' })
  assert.equal(trap.trap, 'unreachable_code_reached')
  const fuel = await limits.cast({ export: 'spin', limits: { fuel: 100000 } })
  assert.equal(fuel.usage.fuel, 100000)
  const flood = await limits.cast({ export: 'flood', limits: { outputBytes: 1000 } })
  assert.equal(flood.stdout.length, 1000, 'the prefix up to the cap is kept')
  assert.equal(flood.usage.stdoutBytes, 1000)
  const denied = await limits.cast({ meter: { authorize: () => ({ deny: 'no budget left' }) } })
  assert.equal(denied.detail, 'no budget left')
  assert.equal(denied.usage.fuel, undefined, 'nothing ran')
})

test('usage records carry the cast figures', async () => {
  const r = await limits.cast()
  const u = r.usage
  assert.equal(r.stdout.toString(), 'spell says hi\n')
  assert.equal(u.stdoutBytes, 14)
  assert.ok(u.fuel > 0 && u.wallNs > 0 && u.memoryPeakBytes >= 65536, JSON.stringify(u))
  assert.ok(Math.abs(u.startedAtMs - Date.now()) < 60_000)
  assert.deepEqual([u.netRequests, u.netBytesIn, u.netBytesOut, u.stderrBytes], [0, 0, 0, 0])
})

test('values returned by an export keep their types: i64 as bigint', async () => {
  const r = await limits.cast({ export: 'answer' })
  assert.deepEqual(r.returned, [42, -9007199254740993n, 0.5])
  assert.equal(r.exitCode, undefined, 'a named export does not exit')
})

test('the authorize allowance caps fuel', async () => {
  const r = await limits.cast({ export: 'spin', meter: { authorize: () => ({ maxFuel: 5000 }) } })
  assert.equal(r.outcome, 'out_of_fuel')
  assert.equal(r.usage.fuel, 5000)
  assert.match(r.detail, /allowance/)
})

test('a component (module.kind "component") casts like a module: exports by name, the same limits', async () => {
  const component = await runtime.load(fixture('component', '"entrypoint":"answer","limits":{"fuel":100000}'), devPolicy)
  const r = await component.cast()
  assert.deepEqual([r.outcome, r.returned, r.exitCode], ['ok', [42], undefined])
  assert.ok(r.usage.fuel > 0)
  assert.deepEqual((await component.cast({ export: 'acme:demo/api#answer' })).returned, [42])
  const spun = await component.cast({ export: 'spin' })
  assert.deepEqual([spun.outcome, spun.usage.fuel], ['out_of_fuel', 100000])
})

test('a WASI preview 3 component needs a runtime built with wasiP3', async () => {
  const pkg = fixture('component_p3', '"limits":{"fuel":100000}')
  await assert.rejects(runtime.load(pkg, devPolicy), (e) => e.code === 'E-MOD-002' && /wasi_p3/.test(e.message))
  const p3 = await new Runtime({ wasiP3: true }).load(pkg, devPolicy)
  const r = await p3.cast()
  assert.deepEqual([r.outcome, r.exitCode], ['ok', 0])
  const spun = await p3.cast({ export: 'spin' })
  assert.deepEqual([spun.outcome, spun.usage.fuel], ['out_of_fuel', 100000])
})

// onOutput: the guest's stdout and stderr handed to JS as they are written.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Runtime, SpellError, devPolicy, fixture, helloSpell, pack, roomy } from './helpers.mjs'

const runtime = new Runtime()
const hello = await runtime.load(helloSpell, devPolicy)
const limits = await runtime.load(fixture('limits', `"entrypoint":"hello",${roomy}`), devPolicy)

test('onOutput sees every chunk, in order, before the cast settles', async () => {
  const chunks = []
  const r = await hello.cast({ args: ['stream'], stdin: 'piped\n', onOutput: (stream, chunk) => chunks.push([stream, chunk]) })
  assert.equal(r.outcome, 'ok')
  assert.ok(chunks.length > 0)
  assert.ok(chunks.every(([s, c]) => s === 'stdout' && c instanceof Uint8Array))
  assert.equal(Buffer.concat(chunks.map(([, c]) => c)).toString(), r.stdout.toString())
  assert.equal(r.stdout.toString(), 'Hello, stream!\npiped\n')
  assert.equal(r.hookError, undefined)
})

test('output cut by the output limit reaches onOutput exactly as the result has it', async () => {
  let seen = []
  const r = await limits.cast({ export: 'flood', limits: { outputBytes: 1000 }, onOutput: (_, c) => seen.push(c) })
  assert.equal(r.outcome, 'output_limit')
  const streamed = Buffer.concat(seen)
  assert.equal(streamed.length, r.stdout.length)
  assert.ok(streamed.equals(r.stdout))
  assert.ok(r.usage.stdoutBytes <= 1000)
})

test('output arrives while the cast is still running', async () => {
  // Says hi, then spins until its wall-time limit.
  const wat = `(module
    (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "hi\\n")
    (func (export "_start")
      (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 3))
      (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
      (loop (br 0))))`
  const spinner = await runtime.load(pack(`{"name":"spinner","version":"1.0.0","license":"MIT",${roomy}}`, Buffer.from(wat)), devPolicy)
  let firstAt
  const chunks = []
  const started = performance.now()
  const r = await spinner.cast({
    limits: { wallTimeMs: 600 },
    onOutput: (stream, chunk) => { firstAt ??= performance.now(); chunks.push([stream, chunk]) },
  })
  const settledAt = performance.now()
  assert.equal(r.outcome, 'timeout')
  assert.deepEqual(chunks.map(([s, c]) => [s, Buffer.from(c).toString()]), [['stderr', 'hi\n']])
  assert.equal(r.stderr.toString(), 'hi\n')
  assert.ok(firstAt - started < settledAt - started - 300, `first chunk at ${firstAt - started} ms, settled at ${settledAt - started} ms`)
})

test('a throwing onOutput is the cast\'s hookError; the cast and its output go on', async () => {
  const r = await hello.cast({ args: ['x'], onOutput: () => { throw new Error('terminal gone') } })
  assert.equal(r.outcome, 'ok')
  assert.equal(r.stdout.toString(), 'Hello, x!\n')
  assert.ok(r.hookError instanceof SpellError)
  assert.equal(r.hookError.hook, 'onOutput')
  assert.match(r.hookError.message, /terminal gone/)
})

test('onOutput must be a function', async () => {
  await assert.rejects(hello.cast({ onOutput: 42 }), (e) => e instanceof SpellError && e.code === 'E-RUN-006')
})

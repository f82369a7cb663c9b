// The addon in worker threads: each JS environment has its own SpellError class and its own
// hooks, and terminating a worker with a cast waiting on its hook does not take the process down.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Worker } from 'node:worker_threads'

const entry = new URL('../index.js', import.meta.url).pathname

/** Runs `body` (CommonJS, with `api` and `post` in scope) in a worker; resolves its first message. */
function inWorker(body) {
  const worker = new Worker(`const api = require(${JSON.stringify(entry)}); const post = (m) => require('node:worker_threads').parentPort.postMessage(m); (async () => { ${body} })()`, { eval: true })
  const message = new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  return { worker, message }
}

const guest = `api.pack('{"name":"w","version":"1.0.0","license":"MIT","entrypoint":"run"}', '(module (func (export "run") (result i32) i32.const 7))')`

test('casts, hooks and SpellError work in worker threads, each with its own classes', async () => {
  const body = `
    const runtime = new api.Runtime()
    const policy = api.Policy.fromToml('allow_unsigned = true')
    const spell = await runtime.load(${guest}, policy)
    let recorded = 0
    const r = await spell.cast({ meter: { record: () => { recorded++ } } })
    const refused = await runtime.load(Buffer.from('x'), policy).catch((e) => [e instanceof api.SpellError, e.code])
    post({ returned: r.returned, recorded, refused })`
  const runs = [inWorker(body), inWorker(body)]
  for (const { worker, message } of runs) {
    assert.deepEqual(await message, { returned: [7], recorded: 1, refused: [true, 'E-PKG-002'] })
    await worker.terminate()
  }
})

test('terminating a worker whose cast waits on a hook that never settles', async () => {
  const { worker, message } = inWorker(`
    const spell = await new api.Runtime().load(${guest}, api.Policy.fromToml('allow_unsigned = true'))
    spell.cast({ meter: { authorize: () => new Promise(() => {}) } })
    post('casting')`)
  assert.equal(await message, 'casting')
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.equal(await worker.terminate(), 1)
})

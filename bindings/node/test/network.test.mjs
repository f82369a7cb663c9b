// Outbound HTTP from a spell, seen from JS: guest/examples/fetch.c (built with clang-14) against
// an HTTP server on 127.0.0.1 in this very process, granted explicitly. The server answers while
// the cast waits for it, so this also shows the event loop is free during a cast.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Runtime, Policy, pack, repo } from './helpers.mjs'

const body = Buffer.alloc(5000, 'x')
const server = createServer((req, res) => {
  res.writeHead(200, { 'content-length': body.length })
  res.end(body)
})
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
after(() => server.close())
const origin = `http://127.0.0.1:${server.address().port}`

const wasm = join(mkdtempSync(join(tmpdir(), 'spell-node-')), 'fetch.wasm')
execFileSync('clang-14', ['--target=wasm32-wasi', '-O2', '-Wl,--strip-all', '-I', `${repo}guest/include`, '-o', wasm, `${repo}guest/examples/fetch.c`])
const manifest = JSON.stringify({ name: 'fetch', version: '1.0.0', license: 'MIT', capabilities: { network: [origin] } })
const policy = Policy.fromToml(`allow_unsigned = true
[capabilities]
network = ["${origin}"]
[network]
allow_addresses = ["127.0.0.1/32"]
`)
const fetch = await new Runtime().load(pack(manifest, readFileSync(wasm)), policy)

test('a granted request is counted in the usage record', async () => {
  const r = await fetch.cast({ args: [`${origin}/data`] })
  assert.equal(r.outcome, 'ok', r.stderr.toString())
  assert.ok(r.stdout.includes('< rc=0 status=200 '), r.stdout.toString())
  assert.ok(r.stdout.subarray(-body.length - 1, -1).equals(body))
  assert.equal(r.usage.netRequests, 1)
  assert.ok(r.usage.netBytesIn > body.length, `${r.usage.netBytesIn}`)
  assert.ok(r.usage.netBytesOut > 'GET /data HTTP/1.1\r\n'.length, `${r.usage.netBytesOut}`)
})

test('a byte cap below the response ends the cast as network_limit', async () => {
  const r = await fetch.cast({ args: [`${origin}/data`], limits: { netBytes: 1000 } })
  assert.equal(r.outcome, 'network_limit', r.detail)
  assert.equal(r.usage.netRequests, 1)
  assert.ok(r.usage.netBytesIn + r.usage.netBytesOut <= 1000)
})

test('an address outside the grant is refused to the guest', async () => {
  const r = await fetch.cast({ args: ['http://127.0.0.2:9/'] })
  assert.deepEqual([r.outcome, r.exitCode, r.usage.netRequests], ['exit', 1, 0])
})

// Outbound HTTP from a spell, seen from JS: guest/examples/fetch.c (built with clang-14) against
// an HTTP server on 127.0.0.1 in this very process, granted explicitly. The server answers while
// the cast waits for it, so this also shows the event loop is free during a cast.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Runtime, Policy, SpellError, pack, repo } from './helpers.mjs'

const body = Buffer.alloc(5000, 'x')
const server = createServer((req, res) => {
  res.writeHead(200, { 'content-length': body.length })
  res.end(body)
})
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
after(() => server.close())
const origin = `http://127.0.0.1:${server.address().port}`

const scratch = mkdtempSync(join(tmpdir(), 'spell-node-'))
after(() => rmSync(scratch, { recursive: true, force: true }))
const wasm = join(scratch, 'fetch.wasm')
execFileSync('clang-14', ['--target=wasm32-wasi', '-O2', '-Wl,--strip-all', '-I', `${repo}guest/include`, '-o', wasm, `${repo}guest/examples/fetch.c`])
/** The fetch guest on `runtime`, granted `origin` (loopback allowed explicitly). */
function loadFetch(runtime, origin) {
  const manifest = JSON.stringify({ name: 'fetch', version: '1.0.0', license: 'MIT', capabilities: { network: [origin] } })
  const policy = Policy.fromToml(`allow_unsigned = true
[capabilities]
network = ["${origin}"]
[network]
allow_addresses = ["127.0.0.1/32"]
`)
  return runtime.load(pack(manifest, readFileSync(wasm)), policy)
}
const runtime = new Runtime()
const fetch = await loadFetch(runtime, origin)

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

test('HTTPS to a server of a private CA the runtime trusts (test/fixtures/tls, made by make.py)', async () => {
  const tls = new URL('fixtures/tls/', import.meta.url)
  const secure = createTlsServer({ cert: readFileSync(new URL('server.pem', tls)), key: readFileSync(new URL('server.key', tls)) }, (req, res) => res.end('secure'))
  await new Promise((resolve) => secure.listen(0, '127.0.0.1', resolve))
  try {
    const origin = `https://127.0.0.1:${secure.address().port}`
    const trusting = await loadFetch(new Runtime({ tlsRootCertificates: [readFileSync(new URL('ca.der', tls))] }), origin)
    const ok = await trusting.cast({ args: [`${origin}/`] })
    assert.equal(ok.outcome, 'ok', ok.stdout.toString())
    assert.ok(ok.stdout.toString().endsWith('secure\n'))
    // The shared runtime does not trust that CA.
    const refused = await (await loadFetch(runtime, origin)).cast({ args: [`${origin}/`] })
    assert.equal(refused.outcome, 'exit')
    assert.match(refused.stdout.toString(), /UnknownIssuer/)
  } finally {
    secure.close()
  }
  assert.throws(() => new Runtime({ tlsRootCertificates: [Buffer.from('not a certificate')] }), (e) => e instanceof SpellError && e.code === 'E-RUN-002')
})

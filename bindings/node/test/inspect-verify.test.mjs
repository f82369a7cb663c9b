// Looking at a package without casting it: inspect (what it says about itself) and
// runtime.verify (the checks of load, without compiling).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Policy, Runtime, SpellError, fixture, helloSpell, inspect, repo } from './helpers.mjs'

const examplePolicy = Policy.fromFile(`${repo}examples/policy.toml`)

test('inspect reads what the package says, from a path or bytes', () => {
  const info = inspect(helloSpell)
  assert.equal(info.manifest.name, 'hello')
  assert.deepEqual([info.signed, info.has_sbom], [true, true])
  assert.deepEqual(info.manifest.capabilities.env, ['HELLO_NAME'])
  assert.match(info.digest, /^[0-9a-f]{64}$/)
  assert.deepEqual(inspect(readFileSync(helloSpell)), info)
  assert.ok(info.imports.includes('wasi_snapshot_preview1::fd_write'), info.imports)
  assert.ok(info.exports.includes('_start'), info.exports)
  const bare = inspect(fixture('limits'))
  assert.deepEqual([bare.signed, bare.has_sbom], [false, false])
  assert.throws(() => inspect(Buffer.from('not a package')), (e) => e instanceof SpellError && e.code.startsWith('E-PKG-'))
})

test('verify reports signer, SBOM and grant without compiling', async () => {
  const runtime = new Runtime()
  const v = await runtime.verify(helloSpell, examplePolicy)
  assert.deepEqual([v.name, v.version], ['hello', '0.1.0'])
  assert.equal(v.digest, inspect(helloSpell).digest)
  assert.equal(v.verification.signer.rule, 'spell-examples')
  assert.ok(v.verification.sbom.components >= 1)
  assert.deepEqual(v.grant.env, ['HELLO_NAME'])
  assert.equal(runtime.stats().compiled, 0, 'nothing was compiled')
})

test('verify rejects with what load rejects with', async () => {
  const runtime = new Runtime()
  await assert.rejects(runtime.verify(helloSpell, Policy.fromToml('')), (e) => e instanceof SpellError && e.code === 'E-SIG-004')
  await assert.rejects(runtime.verify(fixture('limits'), Policy.fromToml('')), (e) => e instanceof SpellError && e.code === 'E-SIG-001')
})

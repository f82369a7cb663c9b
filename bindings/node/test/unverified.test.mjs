// Bare modules: loadUnverified gets what the module asks for, bounded by a policy when given.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Policy, Runtime, SpellError, helloSpell, tarMember } from './helpers.mjs'

const runtime = new Runtime()
const wasm = tarMember(readFileSync(helloSpell), 'module.wasm')

test('a bare module gets what it asks for and casts', async () => {
  const bare = await runtime.loadUnverified(wasm, { name: 'hi', capabilities: { env: ['GREETING'] }, limits: { fuel: 50000000 } })
  assert.deepEqual([bare.name, bare.entrypoint, bare.grant.limits.fuel, bare.grant.env], ['hi', '_start', 50000000, ['GREETING']])
  const r = await bare.cast({ args: ['world'], stdin: Buffer.from('more') })
  assert.equal(r.outcome, 'ok')
  assert.equal(Buffer.from(r.stdout).toString(), 'Hello, world!\nmore')
})

test('a policy bounds a bare module loaded from a path', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'spell-')), 'hello.wasm')
  writeFileSync(path, wasm)
  const policy = Policy.fromToml('allow_unsigned = true\n[limits.default]\nfuel = 1000\n[limits.max]\nfuel = 1000\n')
  const bounded = await runtime.loadUnverified(path, { limits: { fuel: 1000 } }, policy)
  assert.equal(bounded.grant.limits.fuel, 1000)
  assert.equal((await bounded.cast()).outcome, 'out_of_fuel')
  await assert.rejects(runtime.loadUnverified(path, { capabilities: { env: ['GREETING'] } }, policy),
    (e) => e instanceof SpellError && e.code === 'E-POL-003' && /GREETING/.test(e.message))
})

test('an unknown field or bytes that are no module are refused', async () => {
  await assert.rejects(runtime.loadUnverified(wasm, { limits: { fule: 1 } }),
    (e) => e instanceof SpellError && e.code === 'E-MAN-001' && /fule/.test(e.message))
  await assert.rejects(runtime.loadUnverified(Buffer.from('\0asm\x01\0\0\0garbage', 'latin1')), { code: 'E-MOD-002' })
})

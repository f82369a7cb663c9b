// Every refusal is a SpellError carrying a code from the catalog (docs/error-codes.md).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { Policy, Runtime, SpellError, devPolicy, fixture, helloSpell, pack, repo, roomy } from './helpers.mjs'

/** code -> name, from the generated catalog table. */
const catalog = new Map(
  [...readFileSync(`${repo}docs/error-codes.md`, 'utf8').matchAll(/^\| `(E-[A-Z]+-\d{3})` \| `([a-z_]+)` \|/gm)].map((m) => [m[1], m[2]]),
)
const seen = new Set()

/** Checks a refusal: a SpellError with `code`, named as the catalog names it. */
function refusal(code, pattern) {
  return (e) => {
    assert.ok(e instanceof SpellError, `${e} is not a SpellError`)
    assert.ok(e instanceof Error)
    assert.equal(e.name, 'SpellError')
    assert.equal(e.code, code, e.message)
    assert.equal(e.codeName, catalog.get(code))
    if (pattern) assert.match(e.message, pattern)
    assert.match(e.stack, /SpellError/)
    seen.add(code)
    return true
  }
}

const runtime = new Runtime()
const hello = await runtime.load(helloSpell, devPolicy)
const limits = await runtime.load(fixture('limits', `"entrypoint":"hello",${roomy}`), devPolicy)

test('bad policies throw at once', () => {
  assert.throws(() => Policy.fromToml('allow_unsigned = 1'), refusal('E-POL-001'))
  assert.throws(() => Policy.fromToml('[capabilities]\nenv = ["A=B"]'), refusal('E-POL-002'))
  assert.throws(() => Policy.fromFile(`${tmpdir()}/no-such-policy.toml`), refusal('E-POL-001', /no-such-policy/))
  assert.ok(Policy.fromFile(`${repo}examples/policy.toml`))
})

test('loads that fail reject with the code of the step that refused', async () => {
  await assert.rejects(() => runtime.load(Buffer.from('not a spell'), devPolicy), refusal('E-PKG-002'))
  await assert.rejects(() => runtime.load(`${tmpdir()}/no-such.spell`, devPolicy), refusal('E-PKG-012', /no-such\.spell/))
  await assert.rejects(() => runtime.load(fixture('limits'), Policy.fromToml('')), refusal('E-SIG-001'))
  await assert.rejects(() => runtime.load(helloSpell, Policy.fromToml('allow_unsigned = true')), refusal('E-POL-003', /HELLO_NAME/))
  await assert.rejects(() => runtime.load(fixture('limits', '"entrypoint":"nope"'), devPolicy), refusal('E-MOD-004', /nope/))
  await assert.rejects(() => runtime.load(pack('{"name":"x","version":"1.0.0","license":"MIT"}', Buffer.from('\0asm\x01\0\0\0garbage')), devPolicy), refusal('E-MOD-002'))
})

test('casts beyond the grant reject', async () => {
  await assert.rejects(() => hello.cast({ env: { HOME: '/root' } }), refusal('E-POL-004', /HOME/))
  await assert.rejects(() => hello.cast({ limits: { fuel: 1e12 } }), refusal('E-POL-004', /fuel/))
  await assert.rejects(() => hello.cast({ mounts: [{ host: tmpdir(), guest: '/data' }] }), refusal('E-POL-004', /\/data/))
  await assert.rejects(() => limits.cast({ export: 'memory' }), refusal('E-RUN-005', /memory/))
})

test('arguments of the wrong shape reject (async) or throw (sync) as invalid_argument', async () => {
  const bad = [{ args: 'world' }, { stdin: 5 }, { limits: { fuel: -1 } }, { limits: { wallTimeMs: 1.5 } }, { mounts: [{ host: '/', guest: '/data', access: 'rx' }] }, { signal: {} }, { meter: { record: 'yes' } }, 'options']
  for (const options of bad) await assert.rejects(() => hello.cast(options), refusal('E-RUN-006'), JSON.stringify(options))
  await assert.rejects(() => runtime.load(helloSpell, {}), refusal('E-RUN-006', /policy/))
  await assert.rejects(() => runtime.load(42, devPolicy), refusal('E-RUN-006', /spell/))
  assert.throws(() => new Runtime({ maxConcurrentCasts: -1 }), refusal('E-RUN-006', /maxConcurrentCasts/))
  assert.throws(() => new Runtime({ metering: 'gas' }), refusal('E-RUN-006'))
  assert.throws(() => new Runtime({ meter: { authorize: 1 } }), refusal('E-RUN-006', /authorize/))
  assert.throws(() => pack(1, ''), refusal('E-RUN-006', /manifest/))
})

test('pack refuses bad text and bad manifests with their codes', () => {
  assert.throws(() => pack('{"name":"x","version":"1.0.0","license":"MIT"}', '(module (func'), refusal('E-MOD-002', /module text/))
  assert.throws(() => pack('{"name":"x"', '(module)'), refusal('E-MAN-001'))
  const bytes = pack('{"name":"x","version":"1.0.0","license":"MIT","entrypoint":"run"}', '(module (func (export "run")))')
  assert.ok(Buffer.isBuffer(bytes) && bytes.length > 1024, 'a ustar archive')
})

test('every code seen above is in the catalog, with its name', () => {
  assert.ok(catalog.size > 40, 'the catalog table parsed')
  assert.ok(seen.size >= 12, [...seen].join(' '))
  for (const code of seen) assert.ok(catalog.has(code), code)
})

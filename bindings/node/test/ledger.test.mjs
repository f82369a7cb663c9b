// Ledger: the embedded SQLite usage ledger as a native meter, from Node: a spent budget refused
// before anything runs, a cast within what the account can pay, concurrent casts never
// spending more than the budget, a killed process's reservation released, tampering named.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Ledger, Runtime, SpellError, devPolicy, fixture, helloSpell, roomy } from './helpers.mjs'

const prices = 'version = "test-1"\ncurrency = "USD"\nper_cast = 1000\nper_million_fuel = 1000\n'
const runtime = new Runtime()
const hello = await runtime.load(helloSpell, devPolicy)
const spin = await runtime.load(fixture('limits', `"entrypoint":"spin",${roomy}`), devPolicy)

const folders = []
after(() => folders.forEach((f) => rmSync(f, { recursive: true, force: true })))

function fresh() {
  const folder = mkdtempSync(join(tmpdir(), 'spell-ledger-'))
  folders.push(folder)
  const path = join(folder, 'usage.db')
  const ledger = new Ledger(path)
  ledger.setPrices(prices)
  return { ledger, path }
}

test('a spent budget is refused before anything runs', async () => {
  const { ledger } = fresh()
  ledger.setAccount('broke', 10)
  const r = await hello.cast({ args: ['x'], meter: ledger.meter('broke') })
  assert.equal(r.outcome, 'denied')
  assert.equal(r.denialCode, 'E-BILL-001')
  const account = ledger.account('broke')
  assert.deepEqual([account.spent, account.reserved], [0, 0])
  assert.equal(ledger.verify().seq, 1, 'the denial is a row too')
})

test('a cast runs within what the account can pay and is charged what it used', async () => {
  const { ledger } = fresh()
  ledger.setAccount('acme', 51_000) // 1000 per cast, then 50 million fuel
  const r = await spin.cast({ limits: { wallTimeMs: 5000 }, meter: ledger.meter('acme') })
  assert.equal(r.outcome, 'out_of_fuel')
  assert.match(r.detail, /allowance/)
  const fuel = r.usage.fuel
  assert.ok(fuel > 0 && fuel <= 50_000_000)
  assert.equal(ledger.account('acme').spent, 1000 + Math.ceil((fuel * 1000) / 1_000_000))
})

test('casts in flight together never spend more than the budget', async () => {
  const { ledger } = fresh()
  const probe = await hello.cast({ args: ['x'] })
  const per = 1000 + Math.ceil((probe.usage.fuel * 1000) / 1_000_000)
  ledger.setAccount('team', per * 5)
  const meter = ledger.meter('team')
  const outcomes = await Promise.all(Array.from({ length: 40 }, () => hello.cast({ args: ['x'], meter })))
  const ran = outcomes.filter((o) => o.outcome !== 'denied')
  assert.ok(ran.length >= 1 && ran.length <= 5, `${ran.length} ran`)
  const account = ledger.account('team')
  assert.ok(account.spent <= account.budget && account.reserved === 0)
  assert.equal(ledger.verify().seq, 40, 'every cast recorded once')
})

test('a killed process leaves no reservation behind', async () => {
  const { ledger, path } = fresh()
  ledger.setAccount('acme', 1e12)
  const script = `
    import { Ledger, Runtime, devPolicy, fixture, roomy } from './helpers.mjs'
    const spell = await new Runtime().load(fixture('limits', '"entrypoint":"spin",' + roomy), devPolicy)
    console.log('casting')
    await spell.cast({ meter: new Ledger(${JSON.stringify(path)}).meter('acme') })`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: new URL('.', import.meta.url), stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise((resolve) => child.stdout.once('data', resolve))
  for (let i = 0; i < 200 && ledger.account('acme').reserved === 0; i++) await new Promise((r) => setTimeout(r, 10))
  assert.ok(ledger.account('acme').reserved > 0)
  child.kill('SIGKILL')
  await new Promise((resolve) => child.once('exit', resolve))
  const reopened = new Ledger(path)
  assert.equal(reopened.releasedReservations, 1)
  assert.equal(reopened.account('acme').reserved, 0)
  reopened.verify()
})

test('a row edited behind the ledger\'s back is named', async () => {
  const { ledger, path } = fresh()
  ledger.setAccount('acme', 1e9)
  for (let i = 0; i < 3; i++) await hello.cast({ args: ['x'], meter: ledger.meter('acme') })
  // The sqlite3 CLI (scripts/install-deps.sh): the triggers refuse an UPDATE; dropped first,
  // the edit goes through and the chain shows it.
  const sql = (text) => execFileSync('sqlite3', [path, text], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  assert.throws(() => sql('UPDATE usage SET fuel = 1 WHERE seq = 2'))
  const triggers = sql("SELECT name FROM sqlite_schema WHERE type = 'trigger'").split('\n').filter(Boolean)
  sql(triggers.map((t) => `DROP TRIGGER ${t};`).join(' ') + ' UPDATE usage SET fuel = 1 WHERE seq = 2;')
  assert.throws(() => ledger.verify(), (e) => e instanceof SpellError && e.code === 'E-BILL-004' && /2/.test(e.message))
})

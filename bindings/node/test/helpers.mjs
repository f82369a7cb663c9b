// Shared by the test files: the package, the fixtures as spells, and small utilities.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import spell from '../index.js'

export const { Runtime, Policy, Spell, HostCall, SpellError, Ledger, UsageLog, pack, inspect } = spell

export const repo = fileURLToPath(new URL('../../../', import.meta.url))
export const helloSpell = `${repo}examples/hello/hello.spell`

/** A policy that loads unsigned spells and grants what the fixtures ask for. */
export const devPolicy = Policy.fromToml(`
allow_unsigned = true
[capabilities]
env = ["HELLO_NAME"]
host_functions = ["math::*", "log::line", "kv::get", "mem::fill"]
`)

/** Packs a WAT fixture with a manifest; `extra` is spliced into the manifest JSON. */
export function fixture(name, extra = '"entrypoint":"hello"') {
  const wat = readFileSync(new URL(`fixtures/${name}.wat`, import.meta.url))
  return pack(`{"name":"${name}","version":"1.0.0","license":"MIT",${extra}}`, wat)
}

/** The member `name` of a tar archive (a `.spell` package), read by its 512-byte headers. */
export function tarMember(archive, name) {
  for (let at = 0; at + 512 <= archive.length;) {
    const member = archive.subarray(at, at + 100).toString('latin1').replace(/\0.*$/s, '')
    const size = parseInt(archive.subarray(at + 124, at + 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8)
    if (member === name) return archive.subarray(at + 512, at + 512 + size)
    at += 512 + Math.ceil(size / 512) * 512
  }
  throw new Error(`no ${name} in the archive`)
}

/** Limits generous enough that only the one under test ends a cast. */
export const roomy = '"limits":{"fuel":10000000000,"wall_time_ms":30000,"memory_bytes":4194304,"output_bytes":65536}'

/** A meter that counts its calls and keeps what it saw. */
export function countingMeter() {
  return {
    authorized: [],
    records: [],
    events: [],
    authorize(ctx) { this.authorized.push(ctx) },
    record(usage) { this.records.push(usage) },
    observe(event) { this.events.push(event) },
  }
}

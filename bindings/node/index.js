'use strict'
// The package entry: the compiled addon (spell.node, built by `npm run build`) and the
// SpellError class its refusals are instances of. Types: index.d.ts.

const native = require('./spell.node')

/** Every refusal of the Spell runtime: `code` is the catalog's stable code, `codeName` its name. */
class SpellError extends Error {
  constructor(message, code, codeName) {
    super(message)
    this.name = 'SpellError'
    this.code = code
    this.codeName = codeName
  }
}

native.registerSpellError(SpellError)

// `toJSON()` on every cast result: the JSON shape every binding shares (`spell cast --json`,
// Python's `to_dict`), named by the Rust field lists: snake_case, absent values as null, output
// as text, i64 as number.
const fields = native.jsonFields()
const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase())
const plain = (v) => (v === undefined ? null : typeof v === 'bigint' ? Number(v) : Buffer.isBuffer(v) ? v.toString() : v)
const pick = (object, names) => Object.fromEntries(names.map((name) => [name, plain(object[camel(name)])]))
function toJSON() {
  const e = this.hookError
  return {
    ...pick(this, fields.outcome),
    returned: this.returned.map(plain),
    usage: pick(this.usage, fields.usage),
    hook_error: e ? { code: e.code, name: e.codeName, hook: e.hook ?? null, message: e.message } : null,
  }
}
native.registerToJson(toJSON)

// Listed one by one so that ESM `import { Runtime } from '@spell/runtime'` works too.
exports.Runtime = native.Runtime
exports.Policy = native.Policy
exports.Spell = native.Spell
exports.HostCall = native.HostCall
exports.Ledger = native.Ledger
exports.LedgerMeter = native.LedgerMeter
exports.UsageLog = native.UsageLog
exports.pack = native.pack
exports.inspect = native.inspect
exports.jsonFields = native.jsonFields
exports.SpellError = SpellError

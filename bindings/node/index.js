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

// Listed one by one so that ESM `import { Runtime } from '@spell/runtime'` works too.
exports.Runtime = native.Runtime
exports.Policy = native.Policy
exports.Spell = native.Spell
exports.HostCall = native.HostCall
exports.Ledger = native.Ledger
exports.LedgerMeter = native.LedgerMeter
exports.pack = native.pack
exports.SpellError = SpellError

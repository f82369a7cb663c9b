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
// Every cast result is built here, from the addon's values in this order: V8 makes an object
// literal for a fraction of what setting its properties one by one through N-API costs. The
// usage record's outcome and exit code are the result's own. Absent values come as null and are
// left undefined, as everywhere else in the package.
const absent = (v) => (v === null ? undefined : v)
function castResult(outcome, exitCode, trap, detail, returned, output, stdoutLength, hookError, denialCode,
  castId, spellDigest, spellName, fuel, wallNs, cpuNs, memoryPeakBytes, stdoutBytes, stderrBytes,
  netRequests, netBytesIn, netBytesOut, diskBytesWritten, startedAtMs, traceId) {
  exitCode = absent(exitCode)
  // stdout and stderr come as one buffer, stdout first: two views of it cost less than a
  // second buffer from the addon.
  const stdout = Buffer.from(output.buffer, output.byteOffset, stdoutLength)
  const stderr = Buffer.from(output.buffer, output.byteOffset + stdoutLength, output.length - stdoutLength)
  const usage = {
    castId,
    spellDigest,
    spellName,
    outcome,
    exitCode,
    fuel: absent(fuel),
    wallNs,
    cpuNs,
    memoryPeakBytes,
    stdoutBytes,
    stderrBytes,
    netRequests,
    netBytesIn,
    netBytesOut,
    diskBytesWritten,
    startedAtMs,
    traceId: absent(traceId),
  }
  return {
    outcome,
    exitCode,
    trap: absent(trap),
    detail: absent(detail),
    returned,
    stdout,
    stderr,
    usage,
    hookError: absent(hookError),
    denialCode: absent(denialCode),
    toJSON,
  }
}
native.registerResultFactory(castResult)

// Cast options are read here and handed to the addon one by one, in this order: V8 reads a
// property in a few instructions, N-API looks its name up as a new string (about 12,000
// instructions a cast for the eleven names). The addon checks every value, and `options` itself.
const castWithFields = native.Spell.prototype.cast
const noOptions = Object.freeze({})
native.Spell.prototype.cast = function cast(options) {
  const o = options !== null && typeof options === 'object' ? options : noOptions
  return castWithFields.call(this, options, o.args, o.env, o.stdin, o.mounts, o.limits, o.meter,
    o.signal, o.export, o.traceparent, o.tracestate, o.onOutput)
}

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

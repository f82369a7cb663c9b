// @ts-check
// Casts the bundled example spell from Node, through the whole verified-loading pipeline:
// signature, SBOM and grant checked against examples/policy.toml, then a metered cast.
//
//   (cd bindings/node && npm ci && npm run build)
//   node examples/node/hello.mjs [name]
import { fileURLToPath } from 'node:url'
import { Policy, Runtime, SpellError } from '../../bindings/node/index.js'

const examples = fileURLToPath(new URL('..', import.meta.url))

/** @type {import('../../bindings/node/index.js').Meter} */
const billing = {
  authorize(ctx) {
    console.error(`authorize ${ctx.spellName} cast ${ctx.castId.slice(0, 8)}: up to ${ctx.limits.fuel} fuel`)
  },
  record(usage) {
    console.error(`record ${usage.outcome}: ${usage.fuel} fuel, ${(usage.wallNs / 1e6).toFixed(2)} ms, peak ${usage.memoryPeakBytes} bytes`)
  },
}

try {
  const runtime = new Runtime({ meter: billing })
  const policy = Policy.fromFile(`${examples}policy.toml`)
  const hello = await runtime.load(`${examples}hello/hello.spell`, policy)
  const result = await hello.cast({
    args: process.argv.slice(2, 3),
    stdin: 'and this came in on stdin\n',
    signal: AbortSignal.timeout(5000),
  })
  process.stdout.write(result.stdout)
  console.error(`${hello.name} ${hello.version} (sha256:${hello.digest.slice(0, 12)}…) ended ${result.outcome}`)
  if (result.outcome !== 'ok') process.exitCode = 3
} catch (e) {
  if (!(e instanceof SpellError)) throw e
  console.error(`error[${e.code}] ${e.codeName}: ${e.message}`)
  process.exitCode = 1
}

// Every example is a test: examples/node/hello.mjs runs and prints what it promises.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { repo } from './helpers.mjs'

test('examples/node/hello.mjs casts the verified example spell and reports its usage', () => {
  const out = execFileSync(process.execPath, [`${repo}examples/node/hello.mjs`, 'example'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  assert.equal(out, 'Hello, example!\nand this came in on stdin\n')
})

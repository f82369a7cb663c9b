// `npm run build`: compiles the addon with cargo (release profile, in the workspace's target dir
// or $CARGO_TARGET_DIR, like every other build here) into ./spell.node, and generates its
// TypeScript declarations with @napi-rs/cli's typegen into .build/index.d.ts (the checked-in
// index.d.ts must equal it; see test/types.test.mjs).
//
// Why not `napi build`: it always passes `--target <host triple>`, which makes cargo build every
// dependency again under target/<triple>/ (wasmtime included: 10+ minutes on 2 cores) instead of
// reusing target/release.
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateTypeDef } from '@napi-rs/cli'

const here = fileURLToPath(new URL('.', import.meta.url))
const crate = 'spell-node'
const cargo = (args, env) => execFileSync('cargo', args, { cwd: here, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })

const { target_directory: targetDir } = JSON.parse(cargo(['metadata', '--format-version', '1', '--no-deps'], process.env))
// napi-derive appends each item's declaration to this folder as it expands the macros.
const typeDefDir = join(targetDir, 'napi-rs', `${crate}-typedefs`)
mkdirSync(typeDefDir, { recursive: true })
const env = { ...process.env, NAPI_TYPE_DEF_TMP_FOLDER: typeDefDir }
if (!existsSync(join(typeDefDir, crate))) {
  // The declarations are written only while the crate compiles: recompile it (it alone).
  env.NAPI_FORCE_BUILD_SPELL_NODE = String(Date.now())
}
cargo(['build', '--release', '--lib', '-p', crate], env)

const library = { darwin: `lib${crate.replace('-', '_')}.dylib`, win32: `${crate.replace('-', '_')}.dll` }[process.platform] ?? `lib${crate.replace('-', '_')}.so`
copyFileSync(join(targetDir, 'release', library), join(here, 'spell.node'))

const { dts } = await generateTypeDef({ typeDefDir, cwd: here, configDtsHeaderFile: 'types.d.ts', constEnum: false })
mkdirSync(join(here, '.build'), { recursive: true })
writeFileSync(join(here, '.build', 'index.d.ts'), dts)
console.error(`built ${join(here, 'spell.node')} and .build/index.d.ts`)

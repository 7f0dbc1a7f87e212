#!/usr/bin/env node
// Bundles patternd's TypeScript into one ES module for `npm start` (the `prestart` script runs this file).
// Run from the bundle on plain Node, not through tsx: tsx's loader detaches ArrayBuffers while it loads
// CommonJS dependencies, after which V8 checks every typed-array access of the engine and the ingest scanner
// for a detached buffer (measured with valgrind: 11.6 % more instructions per event in the message handler).
// Dependencies stay in node_modules (`packages: external`), loaded by Node itself.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Writes the bundle of src/cli.ts to `outfile` (relative to the package root) and returns its path. */
export async function bundle(outfile = 'dist/patternd.mjs') {
  const out = path.resolve(ROOT, outfile);
  await build({
    entryPoints: [path.join(ROOT, 'src', 'cli.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
    outfile: out,
  });
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await bundle();

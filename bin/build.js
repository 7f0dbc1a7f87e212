#!/usr/bin/env node
// Bundles patternd's TypeScript into one ES module for `npm start` (the `prestart` script runs this file).
// Run from the bundle on plain Node, not through tsx: tsx's loader detaches ArrayBuffers while it loads
// CommonJS dependencies, after which V8 checks every typed-array access of the engine and the ingest scanner
// for a detached buffer (measured with valgrind: 11.6 % more instructions per event in the message handler).
// Dependencies stay in node_modules (`packages: external`), loaded by Node itself.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Writes the bundle of `entry` (src/cli.ts; the benchmarks bundle themselves the same way, so that they
 * measure patternd as `npm start` runs it) to `outfile`, both relative to the package root; returns its path.
 * Written to a file of its own and renamed into place, so that builds running at once (test workers, a
 * second `npm start`) never leave a half-written bundle to run.
 */
export async function bundle(outfile = 'dist/patternd.mjs', entry = 'src/cli.ts') {
  const out = path.resolve(ROOT, outfile);
  const { outputFiles } = await build({
    entryPoints: [path.resolve(ROOT, entry)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
    outfile: out,
    write: false,
  });
  const partial = `${out}.${process.pid}.tmp`;
  await fs.mkdir(path.dirname(out), { recursive: true });
  await fs.writeFile(partial, outputFiles[0].contents);
  await fs.rename(partial, out);
  return out;
}

// node bin/build.js [entry outfile]
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [entry, outfile] = process.argv.slice(2);
  await (entry ? bundle(outfile, entry) : bundle());
}

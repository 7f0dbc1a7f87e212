import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bundle } from '../../bin/build.js';
import { PACKAGE_ROOT } from '../../src/paths.ts';
import { tmpDir, waitUntil } from './harness.ts';

/**
 * patternd as a real process, run as `npm start` runs it (the bundle `bin/build.js` makes, on plain Node),
 * for what only a process can show: kill -9, a restart from disk, a persistent MQTT session across
 * restarts, peak RSS. Each test file's worker bundles once.
 */
let bundled: Promise<string> | undefined;

export interface ChildOptions {
  /** Deep-merged into the config file given with --config. */
  config: Record<string, unknown>;
  env: Record<string, string>;
  /** Node options before the script (e.g. `--import` of a module that injects a fault). */
  execArgv?: string[];
}

export class PatterndProcess {
  private static readonly running = new Set<ChildProcess>();

  /** Kills what a failed test left running (call from afterAll). */
  static killAll(): void {
    for (const proc of PatterndProcess.running) proc.kill('SIGKILL');
  }

  private constructor(
    readonly proc: ChildProcess,
    readonly output: string[],
  ) {}

  /** Starts patternd and resolves once it logged 'patternd started'. */
  static async start(opts: ChildOptions): Promise<PatterndProcess> {
    const configFile = path.join(tmpDir('patternd-cfg-'), 'config.json');
    fs.writeFileSync(configFile, JSON.stringify(opts.config));
    bundled ??= bundle();
    const script = await bundled;
    const proc = spawn(process.execPath, [...(opts.execArgv ?? []), script, '--config', configFile], {
      cwd: PACKAGE_ROOT,
      // Only what the test sets: an inherited REDIS_URL or MQTT_URL would change the store or broker.
      env: { PATH: process.env.PATH ?? '', HTTP_PORT: '0', LOG_LEVEL: 'info', REDIS_URL: '', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    PatterndProcess.running.add(proc);
    proc.once('exit', () => PatterndProcess.running.delete(proc));
    const child = new PatterndProcess(proc, []);
    const collect = (chunk: Buffer) => child.output.push(chunk.toString());
    proc.stdout?.on('data', collect);
    proc.stderr?.on('data', collect);
    await waitUntil(
      () => {
        if (proc.exitCode !== null) throw new Error(`patternd exited early:\n${child.output.join('')}`);
        return child.output.join('').includes('"msg":"patternd started"');
      },
      20_000,
      'patternd to start',
    );
    return child;
  }

  /** Sends `signal` and resolves with the exit code (or the signal's name). */
  stop(signal: NodeJS.Signals): Promise<number | string> {
    return new Promise((resolve) => {
      if (this.proc.exitCode !== null) return resolve(this.proc.exitCode);
      this.proc.once('exit', (code, sig) => resolve(code ?? sig ?? -1));
      this.proc.kill(signal);
    });
  }
}

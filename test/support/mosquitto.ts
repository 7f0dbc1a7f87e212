import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, reachable, tmpDir } from './harness.ts';

/** A Mosquitto the test owns (its own port, no persistence), so the test may stop and restart it. */
export class OwnMosquitto {
  private child: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    private readonly conf: string,
  ) {}

  static async start(): Promise<OwnMosquitto> {
    const port = await freePort();
    const dir = tmpDir('patternd-mosq-');
    const conf = path.join(dir, 'mosquitto.conf');
    fs.writeFileSync(
      conf,
      `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n`,
    );
    const m = new OwnMosquitto(port, conf);
    await m.up();
    return m;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    this.child = spawn('mosquitto', ['-c', this.conf], { stdio: 'ignore' });
    const deadline = Date.now() + 5000;
    while (!(await reachable(this.url))) {
      if (Date.now() > deadline) throw new Error(`mosquitto did not start on ${this.port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async down(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    await new Promise((r) => {
      child.once('exit', r);
      child.kill('SIGKILL');
    });
  }
}

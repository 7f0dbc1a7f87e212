import fs from 'node:fs';
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { Service } from '../src/service.ts';
import { clearRetained, tmpDir } from '../test/support/harness.ts';

/** The machine's Mosquitto, or another one through MOSQUITTO_URL. */
export const MOSQUITTO = process.env.MOSQUITTO_URL ?? 'mqtt://127.0.0.1:1883';

export interface BenchService {
  service: Service;
  base: string;
  /** Where publishers connect. */
  url: string;
  /** Stops patternd and leaves no retained states behind on a shared broker. */
  stop(): Promise<void>;
}

/** patternd as `npm start` runs it, silent, on the embedded aedes (free port) or the machine's Mosquitto. */
export async function startBenchService(kind: 'aedes' | 'mosquitto'): Promise<BenchService> {
  const base = `bench${Math.random().toString(36).slice(2, 8)}`;
  const dataDir = tmpDir('patternd-bench-');
  const config = loadConfig({
    env: {},
    overrides: {
      mqtt: {
        baseTopic: base,
        clientId: `patternd-${base}`,
        ...(kind === 'mosquitto' ? { url: MOSQUITTO } : {}),
      },
      broker: { port: 0 },
      store: { dataDir },
      http: { enabled: false },
      log: { level: 'silent' },
    },
  });
  const service = new Service({ config, log: pino({ level: 'silent' }) });
  await service.start();
  const url = kind === 'aedes' ? `mqtt://127.0.0.1:${service.brokerPort}` : MOSQUITTO;
  return {
    service,
    base,
    url,
    stop: async () => {
      await service.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
      if (kind === 'mosquitto') await clearRetained(MOSQUITTO, base);
    },
  };
}

import { parseArgs } from 'node:util';
import { analyse, formatReport } from './analyse/analyse.ts';
import { MappingError } from './analyse/reader.ts';
import { ConfigError, loadConfig, redactConfig } from './config.ts';
import { UnreachableError } from './errors.ts';
import { createLogger } from './log.ts';
import { hashPassword } from './mqtt/auth.ts';
import { BrokerListenError, BrokerPortInUseError } from './mqtt/broker.ts';
import { Service } from './service.ts';
import { VERSION } from './version.ts';

const USAGE = `patternd ${VERSION} — access-pattern recognition over MQTT

usage: patternd [--config <file>]
       patternd hash-password [<password>]   (prints broker.passwordHash for the embedded broker; without
                                              the argument, reads the password from standard input)
       patternd analyse <file> [--csv <mapping>] [--cache 128,384,640,1024] [--top 5] [--json]
                 (JSONL of events, or CSV with a mapping such as time:s,key:lbn>>11,position:lbn*512,size)
       patternd --help | --version

Configuration: config/default.json, then --config <file>, then the environment
(MQTT_URL, REDIS_URL, BASE_TOPIC, LOG_LEVEL, BROKER_HOST, BROKER_PORT, DATA_DIR, HTTP_HOST, HTTP_PORT).
`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
      csv: { type: 'string' },
      cache: { type: 'string' },
      top: { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (positionals[0] === 'hash-password') {
    // From standard input when not given: an argument stays in the shell's history and shows in `ps`.
    const password = positionals[1] ?? (await firstLineOfStdin());
    if (!password)
      throw new ConfigError('usage: patternd hash-password <password>, or the password on standard input');
    process.stdout.write(`${hashPassword(password)}\n`);
    return 0;
  }
  if (positionals[0] === 'analyse' || positionals[0] === 'analyze') {
    if (!positionals[1]) throw new ConfigError('usage: patternd analyse <file> [--csv <mapping>] [--json]');
    const report = await analyse(positionals[1], {
      csv: values.csv,
      cacheMiB: (values.cache ?? '128,384,640,1024').split(',').filter(Boolean).map(Number),
      top: Number(values.top ?? 5),
      config: loadConfig({ file: values.config, env: {} }),
    });
    const text = values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`;
    // Exit only after a piped stdout has taken everything.
    await new Promise((resolve) => process.stdout.write(text, resolve));
    return 0;
  }
  if (positionals.length > 0) throw new ConfigError(`unknown command "${positionals[0]}"\n${USAGE}`);

  const config = loadConfig({ file: values.config });
  const log = createLogger(config.log);
  log.debug({ config: redactConfig(config) }, 'configuration');
  const service = new Service({ config, log });

  let signals = 0;
  // A stop after a crash still saves the state and says offline, and then exits 1: a supervisor that
  // restarts on failure (systemd's Restart=on-failure, Docker's on-failure) must see one.
  const shutdown = (signal: string, exitCode = 0) => {
    if (++signals > 1) {
      log.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    log.info({ signal }, 'shutting down');
    service.stop().then(
      () => process.exit(exitCode),
      (err) => {
        log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    shutdown('uncaughtException', 1);
  });

  await service.start();
  return -1; // keep running
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    if (
      err instanceof ConfigError ||
      err instanceof BrokerPortInUseError ||
      err instanceof BrokerListenError ||
      err instanceof MappingError
    ) {
      process.stderr.write(`patternd: ${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof UnreachableError) {
      process.stderr.write(`patternd: failed to start: ${err.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`patternd: failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);

/** The first line of standard input, without its line break ('' when there is none). */
async function firstLineOfStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('password: ');
  let text = '';
  for await (const chunk of process.stdin) {
    text += chunk;
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0];
}

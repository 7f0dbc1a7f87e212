import pino, { type Logger } from 'pino';
import type { Config } from './config.ts';

/** JSON logs by default (machines read them); pino-pretty only when asked for (LOG_PRETTY=1). */
export function createLogger(cfg: Config['log']): Logger {
  if (cfg.pretty) {
    return pino({ level: cfg.level, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return pino({ level: cfg.level, base: { name: 'patternd' } });
}

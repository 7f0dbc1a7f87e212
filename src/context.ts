import type { Logger } from 'pino';
import type { Bus } from './bus.ts';
import type { Config } from './config.ts';
import type { Engine } from './engine/engine.ts';
import type { Prediction } from './engine/predict.ts';
import type { PatternState } from './engine/types.ts';
import type { Topics } from './mqtt/topics.ts';
import type { Transport } from './mqtt/transport.ts';

/** What every extension may use, handed over once by the service instead of read from globals. */
export interface ServiceContext {
  config: Config;
  log: Logger;
  topics: Topics;
  transport: Transport;
  engine: Engine;
  bus: Bus;
  /** A key's state exactly as published on its retained topic (the engine's view plus `predicted`). */
  state(slot: number): PublishedState;
}

export type PublishedState = PatternState & { predicted: Prediction[] };

/** One feature with a lifecycle, wired in `service.ts`; a failing start is logged, not fatal. */
export interface Extension {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

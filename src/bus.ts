import { EventEmitter } from 'node:events';

/**
 * What happens to tracked keys, for extensions that react to it (Home Assistant discovery) without
 * draining the engine themselves: the service drains the engine once and announces the result here.
 */
export interface BusEvents {
  /** A key's set of detected patterns changed (a new key's first patterns included). */
  patternsChanged: [slot: number];
  /** Keys no longer tracked: evicted, forgotten or reset. */
  keysRemoved: [keys: string[]];
}

export class Bus extends EventEmitter<BusEvents> {}

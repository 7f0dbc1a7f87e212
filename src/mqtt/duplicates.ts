/**
 * Messages delivered twice. MQTT's QoS 1 is at-least-once, and devices re-send a batch they are unsure of
 * after a reconnect: counted twice, its accesses doubled the key's rate, and at one batch in twenty sent
 * again a key read a few times an hour burst now and then (an outside evaluation: 5 false bursts in three
 * days on 30 keys; 25 in eight days at one in five). A message is a duplicate when one with the same source,
 * length, event count, first and last keys, timestamps (their sum and their sum weighted by place) and
 * positions came among the last `capacity` messages. Only messages whose every event carries its own `ts`
 * are compared: without one, an event happened when it arrived, and the same payload sent twice is two
 * accesses. The signature reads the parsed columns, not the payload's bytes: a pass over two columns of
 * numbers per message.
 */
/** Messages remembered to tell repeats: minutes of a busy home's batches, a few hundred bytes each. */
export const RECENT_MESSAGES = 4096;
/** A remembered message: its signature string (topic, two keys, numbers) and its place in the set and ring. */
export const RECENT_MESSAGE_BYTES = 400;

export class RecentMessages {
  private readonly seen = new Set<string>();
  private readonly order: string[];
  private next = 0;

  constructor(private readonly capacity: number) {
    this.order = new Array<string>(capacity).fill('');
  }

  /**
   * Is this message (on `topic`, `bytes` long, with the first `count` events of the columns) one seen
   * lately? A new one is remembered. False, and nothing remembered, when an event has no timestamp (NaN).
   */
  isRepeat(
    topic: string,
    bytes: number,
    events: { keys: string[]; ts: Float64Array; position: Float64Array },
    count: number,
  ): boolean {
    if (this.capacity === 0 || count === 0) return false;
    const { keys, ts, position } = events;
    let sum = 0;
    let weighted = 0;
    let positions = 0;
    for (let i = 0; i < count; i++) {
      const t = ts[i];
      if (Number.isNaN(t)) return false;
      sum += t;
      weighted += t * (i + 1);
      positions += Number.isNaN(position[i]) ? -1 : position[i];
    }
    const signature = [topic, bytes, count, keys[0], keys[count - 1], sum, weighted, positions].join(
      '\u0000',
    );
    if (this.seen.has(signature)) return true;
    const old = this.order[this.next];
    if (old !== '') this.seen.delete(old);
    this.order[this.next] = signature;
    this.next = (this.next + 1) % this.capacity;
    this.seen.add(signature);
    return false;
  }
}

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
/**
 * A remembered message: its topic and two keys (at most 512 characters each, and shared with the engine
 * while it tracks the keys), five numbers and its entry in the index.
 */
export const RECENT_MESSAGE_BYTES = 400;

/** Numbers of a signature besides its strings: bytes, event count, ts sum, weighted ts sum, position sum. */
const NUMBERS = 5;

const mixBits = new Float64Array(1);
const mixWords = new Uint32Array(mixBits.buffer);

/** Folds the bits of `x` into hash `h` (FNV-style multiply). */
function mix(h: number, x: number): number {
  mixBits[0] = x;
  return Math.imul(Math.imul(h ^ mixWords[0], 0x01000193) ^ mixWords[1], 0x01000193);
}

export class RecentMessages {
  /**
   * Hash of a signature's numbers → its place in the ring. The hash only finds a candidate; the whole
   * signature is compared, so two messages that hash alike are never taken for each other (the later one
   * takes the index entry, and the earlier one's repeat would be taken as new: the rare cost is a missed
   * repeat, never a lost message). Numbers, not a string of them: building and hashing that string per
   * message was a tenth of the time of one-event messages.
   */
  private readonly index = new Map<number, number>();
  private readonly hashes: Int32Array;
  private readonly topics: string[];
  private readonly firstKeys: string[];
  private readonly lastKeys: string[];
  private readonly numbers: Float64Array;
  /** Ring places in use (the ring fills before it wraps). */
  private used = 0;
  private next = 0;

  constructor(private readonly capacity: number) {
    this.hashes = new Int32Array(capacity);
    this.topics = new Array<string>(capacity).fill('');
    this.firstKeys = new Array<string>(capacity).fill('');
    this.lastKeys = new Array<string>(capacity).fill('');
    this.numbers = new Float64Array(capacity * NUMBERS);
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
    const first = keys[0];
    const last = keys[count - 1];
    const hash =
      mix(mix(mix(Math.imul(bytes, 0x9e3779b1) ^ count ^ (topic.length << 16), sum), weighted), positions) |
      0;
    const numbers = this.numbers;
    const seen = this.index.get(hash);
    if (seen !== undefined) {
      const n = seen * NUMBERS;
      if (
        numbers[n] === bytes &&
        numbers[n + 1] === count &&
        numbers[n + 2] === sum &&
        numbers[n + 3] === weighted &&
        numbers[n + 4] === positions &&
        this.topics[seen] === topic &&
        this.firstKeys[seen] === first &&
        this.lastKeys[seen] === last
      )
        return true;
    }
    const at = this.next;
    if (this.used === this.capacity) {
      if (this.index.get(this.hashes[at]) === at) this.index.delete(this.hashes[at]);
    } else this.used++;
    this.next = at + 1 === this.capacity ? 0 : at + 1;
    this.index.set(hash, at);
    this.hashes[at] = hash;
    this.topics[at] = topic;
    this.firstKeys[at] = first;
    this.lastKeys[at] = last;
    const n = at * NUMBERS;
    numbers[n] = bytes;
    numbers[n + 1] = count;
    numbers[n + 2] = sum;
    numbers[n + 3] = weighted;
    numbers[n + 4] = positions;
    return false;
  }
}

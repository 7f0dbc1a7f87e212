import { type Readable, Transform } from 'node:stream';

/**
 * Makes the embedded broker deliver retained states in the order they were published, and send a new
 * subscriber the *current* retained state of a topic.
 *
 * Why: aedes answers a SUBSCRIBE by streaming its retained map to the client through two buffered object
 * streams (aedes lib/handlers/subscribe.js, `sendRetained`): up to ~32 packets are read from the map
 * before they are sent. The subscription is already live, so a state patternd publishes in between
 * reaches the subscriber first, and the older copy read before it arrives after it. A dashboard that
 * subscribed to `B/pattern/#` while patternd was publishing kept a stale state for some key in about one
 * run of three, until that key changed again — for a key gone quiet, for good.
 *
 * So while any retained stream is being sent, every retained store is remembered, and a packet of the
 * stream takes the latest stored payload of its topic at the moment aedes reads it to send it (empty if
 * the key was cleared since: the subscriber has just seen it cleared live). Once every stream is sent the
 * memory is dropped, so it holds at most the topics stored while a subscriber was being served.
 */
interface RetainedPacket {
  topic: string;
  payload: Buffer;
}

/** A settled result whose callbacks run at once (aedes only calls `then` on what `storeRetained` returns). */
const STORED: PromiseLike<void> = {
  // biome-ignore lint/suspicious/noThenProperty: a thenable on purpose, settled synchronously
  then(onStored) {
    onStored?.();
    return STORED as never;
  },
};

export interface RetainedPersistence {
  storeRetained(packet: RetainedPacket): PromiseLike<void>;
  createRetainedStreamCombi(patterns: string[]): Readable;
}

export interface RetainedFreshness {
  /** Retained packets read from aedes' map and not yet sent, and the streams not yet read to their end. */
  readonly pending: number;
}

export function keepRetainedCurrent(persistence: RetainedPersistence): RetainedFreshness {
  /** Payloads stored since the oldest retained stream still being sent began, by topic. */
  const storedSince = new Map<string, Buffer>();
  let openStreams = 0;
  let unsent = 0;
  const serving = () => openStreams + unsent > 0;
  const settle = () => {
    if (!serving()) storedSince.clear();
  };

  const storeRetained = persistence.storeRetained.bind(persistence);
  persistence.storeRetained = (packet) => {
    if (serving()) storedSince.set(packet.topic, packet.payload);
    // The in-memory store has stored it when the call returns (its promise only reports that). Reported
    // at once, the publish goes on to its subscribers at once, as a plain one does: a client is sent only
    // packets numbered above the last it was sent (aedes' `dedupe`), and a retained state published just
    // before an error report reached the subscribers after it, a microtask later, and was dropped.
    void storeRetained(packet);
    return STORED;
  };

  const createStream = persistence.createRetainedStreamCombi.bind(persistence);
  persistence.createRetainedStreamCombi = (patterns) => {
    // Counted before the map is read, so no store after the read is missed.
    openStreams++;
    const source = createStream(patterns);
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      openStreams--;
      settle();
    };
    const current = new Transform({
      objectMode: true,
      transform(packet: RetainedPacket & Record<string, unknown>, _encoding, done) {
        unsent++;
        let sent = false;
        const stale = packet.payload;
        done(null, {
          ...packet,
          get payload() {
            const payload = storedSince.get(packet.topic) ?? stale;
            if (!sent) {
              sent = true;
              unsent--;
              settle();
            }
            return payload;
          },
        });
      },
    });
    source.once('end', close).once('close', close).once('error', close);
    return source.pipe(current);
  };

  return {
    get pending() {
      return openStreams + unsent;
    },
  };
}

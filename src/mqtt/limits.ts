/**
 * Memory bounds of the embedded broker against its other clients: the size of one MQTT packet, and the
 * bytes of retained messages they may leave on it. Without them, one 200 MB publish took the process from
 * 224 to 497 MiB before patternd could reject it as too large, and 500 retained messages of 1 MB from any
 * client stayed in memory for good (an outside evaluation): neither was in the memory budget.
 */

/**
 * Follows the MQTT framing of one connection's incoming bytes (fixed header byte, remaining length as a
 * variable-length integer, then that many bytes) and tells when a packet announces more than `maxBytes`:
 * from its header, before its body arrives and is buffered.
 */
export class PacketSizeGuard {
  private inHeader = true;
  /** Remaining length read so far, its next digit's weight, and the body bytes still to skip. */
  private length = 0;
  private weight = 1;
  private body = 0;

  constructor(private readonly maxBytes: number) {}

  /** Takes the next bytes; returns the announced size of a packet over the limit, or 0. */
  feed(chunk: Uint8Array): number {
    let i = 0;
    while (i < chunk.length) {
      if (this.body > 0) {
        const skip = Math.min(this.body, chunk.length - i);
        this.body -= skip;
        i += skip;
      } else if (this.inHeader) {
        i++;
        this.inHeader = false;
        this.length = 0;
        this.weight = 1;
      } else {
        const digit = chunk[i++];
        this.length += (digit & 0x7f) * this.weight;
        this.weight *= 128;
        if (this.length > this.maxBytes) return this.length;
        // A fifth digit is malformed: the MQTT parser reports it.
        if ((digit & 0x80) === 0 || this.weight > 128 ** 4) {
          this.body = this.length;
          this.inHeader = true;
        }
      }
    }
    return 0;
  }
}

/** Bytes of retained messages (topic and payload) that clients other than patternd keep, by topic. */
export class RetainedAllowance {
  private readonly byTopic = new Map<string, number>();
  private total = 0;

  constructor(private readonly maxBytes: number) {}

  /**
   * A client publishes a retained message of `payloadBytes` on `topic` (0: it clears the topic). Returns
   * false when keeping it would pass the allowance: it is then delivered but not kept, and the topic keeps
   * what it had.
   */
  take(topic: string, payloadBytes: number): boolean {
    const before = this.byTopic.get(topic) ?? 0;
    const after = payloadBytes === 0 ? 0 : payloadBytes + Buffer.byteLength(topic);
    if (after > 0 && this.total - before + after > this.maxBytes) return false;
    this.total += after - before;
    if (after === 0) this.byTopic.delete(topic);
    else this.byTopic.set(topic, after);
    return true;
  }
}

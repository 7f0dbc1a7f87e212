import { describe, expect, it } from 'vitest';
import { Rng } from '../bench/workloads.ts';
import { PacketSizeGuard, RetainedAllowance } from '../src/mqtt/limits.ts';

/** An MQTT PUBLISH packet (QoS 0): fixed header, remaining length as a variable-length integer, topic, payload. */
function publishPacket(topic: string, payloadBytes: number): Buffer {
  const topicBytes = Buffer.from(topic);
  const remaining = 2 + topicBytes.length + payloadBytes;
  const length: number[] = [];
  let x = remaining;
  do {
    let digit = x % 128;
    x = Math.floor(x / 128);
    if (x > 0) digit |= 0x80;
    length.push(digit);
  } while (x > 0);
  const head = Buffer.from([0x30, ...length, topicBytes.length >> 8, topicBytes.length & 0xff]);
  return Buffer.concat([head, topicBytes, Buffer.alloc(payloadBytes, 0x61)]);
}

describe('embedded broker limits', () => {
  it('follows the framing of a connection cut into any chunks, and flags the first packet over the limit from its header', () => {
    const rng = new Rng(9);
    const sizes = [0, 1, 127, 128, 16_383, 16_384, 100_000, 65_000];
    const stream = Buffer.concat(sizes.map((n, i) => publishPacket(`t/${i}`, n)));
    for (let round = 0; round < 50; round++) {
      const guard = new PacketSizeGuard(200_000);
      for (let at = 0; at < stream.length; ) {
        const take = Math.max(1, Math.floor(rng.uniform(0, 5000)));
        expect(guard.feed(stream.subarray(at, at + take))).toBe(0);
        at += take;
      }
    }
    // A packet of 300 kB after them: flagged with its announced size once its length is read, before its body.
    const guard = new PacketSizeGuard(200_000);
    expect(guard.feed(stream)).toBe(0);
    const big = publishPacket('t/big', 300_000);
    expect(guard.feed(big.subarray(0, 2))).toBe(0);
    expect(guard.feed(big.subarray(2, 4))).toBe(2 + 5 + 300_000);
  });

  it('keeps retained bytes within the allowance: a replacement counts once, a clear frees, past it nothing is kept', () => {
    const a = new RetainedAllowance(1000);
    expect(a.take('a', 400)).toBe(true);
    expect(a.take('a', 500)).toBe(true); // replaces: 501 in all
    expect(a.take('b', 400)).toBe(true); // 902
    expect(a.take('c', 200)).toBe(false);
    expect(a.take('a', 0)).toBe(true); // cleared: 401
    expect(a.take('c', 200)).toBe(true);
  });
});

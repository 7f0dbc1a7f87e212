import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';

import {
  FRAME_DELETE,
  FRAME_EPOCH,
  FRAME_META,
  FRAME_UPSERT,
  type Store,
  type StoreContents,
  type StoredKey,
  type StoredMeta,
  type StoreStatus,
  type WriteBatch,
} from './store.ts';

/**
 * The embedded store: a snapshot file plus an append-only log in `dataDir`.
 *
 * Every flush appends the changed rows to `state.log` and fsyncs it, so after a crash (even kill -9) at
 * most the last flush interval is lost. When the log grows beyond the snapshot (and a floor), the whole
 * state is written to `state.snap.tmp`, fsynced and renamed over `state.snap` (atomic on POSIX), then the
 * log is started afresh. Frames carry a CRC32: a frame torn by a crash mid-write ends the replay cleanly
 * instead of loading garbage.
 *
 * Snapshot and log both begin with an epoch frame; a compaction bumps the epoch. A crash between the
 * snapshot's rename and the log's restart leaves an old-epoch log beside a new snapshot, and that log is
 * ignored: replaying it would roll keys back to older rows or delete keys that came back since.
 *
 * Frame: u32 payload length | u32 crc32(payload) | payload = u8 type | u16 key length | key (UTF-8) |
 *        u32 slot | u32 generation | row bytes   (meta frames: u8 type | JSON; epoch frames: u8 type | u32)
 */
const SNAPSHOT = 'state.snap';
const LOG = 'state.log';
const MIN_LOG_BYTES_FOR_COMPACTION = 8 * 1024 * 1024;

function encodeKeyFrame(type: number, rec: Pick<StoredKey, 'key'> & Partial<StoredKey>): Buffer {
  const key = Buffer.from(rec.key, 'utf8');
  const rowLen = rec.row?.length ?? 0;
  const payloadLen = 1 + 2 + key.length + 8 + rowLen;
  const buf = Buffer.allocUnsafe(8 + payloadLen);
  let o = 8;
  buf.writeUInt8(type, o++);
  buf.writeUInt16LE(key.length, o);
  o += 2;
  key.copy(buf, o);
  o += key.length;
  buf.writeUInt32LE(rec.slot ?? 0, o);
  buf.writeUInt32LE(rec.generation ?? 0, o + 4);
  o += 8;
  if (rec.row) buf.set(rec.row, o);
  buf.writeUInt32LE(payloadLen, 0);
  buf.writeUInt32LE(zlib.crc32(buf.subarray(8)), 4);
  return buf;
}

function encodeFrame(type: number, body: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(8 + 1 + body.length);
  buf.writeUInt8(type, 8);
  body.copy(buf, 9);
  buf.writeUInt32LE(1 + body.length, 0);
  buf.writeUInt32LE(zlib.crc32(buf.subarray(8)), 4);
  return buf;
}

function encodeMetaFrame(meta: StoredMeta): Buffer {
  return encodeFrame(FRAME_META, Buffer.from(JSON.stringify(meta), 'utf8'));
}

function encodeEpochFrame(epoch: number): Buffer {
  const body = Buffer.allocUnsafe(4);
  body.writeUInt32LE(epoch, 0);
  return encodeFrame(FRAME_EPOCH, body);
}

interface Replayed {
  meta: StoredMeta | null;
  /** Epoch of the file replayed; 0 when it has no epoch frame. */
  epoch: number;
}

/** Applies the frames of `data` to `state`; stops at the first torn or corrupt frame. */
function replay(data: Buffer, state: Map<string, StoredKey>, box: Replayed): number {
  let o = 0;
  while (o + 8 <= data.length) {
    const len = data.readUInt32LE(o);
    const crc = data.readUInt32LE(o + 4);
    if (len < 1 || o + 8 + len > data.length) break;
    const payload = data.subarray(o + 8, o + 8 + len);
    if (zlib.crc32(payload) !== crc) break;
    const type = payload[0];
    if (type === FRAME_META) {
      box.meta = JSON.parse(payload.subarray(1).toString('utf8')) as StoredMeta;
    } else if (type === FRAME_EPOCH) {
      box.epoch = payload.readUInt32LE(1);
    } else {
      const keyLen = payload.readUInt16LE(1);
      const key = payload.subarray(3, 3 + keyLen).toString('utf8');
      if (type === FRAME_DELETE) state.delete(key);
      else if (type === FRAME_UPSERT) {
        const p = 3 + keyLen;
        state.set(key, {
          key,
          slot: payload.readUInt32LE(p),
          generation: payload.readUInt32LE(p + 4),
          row: new Uint8Array(payload.subarray(p + 8)),
        });
      }
    }
    o += 8 + len;
  }
  return o;
}

/** The epoch a file starts with (its first frame), 0 for none. */
function epochOf(data: Buffer): number {
  const box: Replayed = { meta: null, epoch: 0 };
  const first = data.length >= 8 ? data.subarray(0, 8 + data.readUInt32LE(0)) : data;
  if (first.length > 8 && first[8] === FRAME_EPOCH) replay(first, new Map(), box);
  return box.epoch;
}

export class FileStore implements Store {
  readonly kind = 'file' as const;
  private log: fsp.FileHandle | undefined;
  /** Bytes of the log known to hold whole frames; a failed append is cut back to this. */
  private logBytes = 0;
  private logTorn = false;
  private snapshotBytes = 0;
  private epoch = 0;
  private lastError: string | undefined;

  constructor(private readonly dir: string) {}

  private get logPath(): string {
    return path.join(this.dir, LOG);
  }

  async open(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    await fsp.rm(path.join(this.dir, `${SNAPSHOT}.tmp`), { force: true });
  }

  async load(): Promise<StoreContents> {
    const state = new Map<string, StoredKey>();
    const snapBox: Replayed = { meta: null, epoch: 0 };
    const snap = await readIfExists(path.join(this.dir, SNAPSHOT));
    if (snap) replay(snap, state, snapBox);
    this.snapshotBytes = snap?.length ?? 0;
    this.epoch = snapBox.epoch;
    const log = await readIfExists(this.logPath);
    if (!log || epochOf(log) < this.epoch) {
      await this.restartLog();
      return { meta: snapBox.meta, keys: [...state.values()] };
    }
    // The log holds the changes since the snapshot: apply them in order on top of it.
    const valid = replay(log, state, snapBox);
    // Drop a torn tail so new frames are not appended after garbage.
    if (valid < log.length) await fsp.truncate(this.logPath, valid);
    this.logBytes = valid;
    return { meta: snapBox.meta, keys: [...state.values()] };
  }

  private async logHandle(): Promise<fsp.FileHandle> {
    this.log ??= await fsp.open(this.logPath, 'a');
    return this.log;
  }

  /** Starts an empty log of the current epoch (durably, directory entry included). */
  private async restartLog(): Promise<void> {
    await this.log?.close();
    this.log = undefined;
    const fh = await fsp.open(this.logPath, 'w');
    try {
      const header = encodeEpochFrame(this.epoch);
      await fh.write(header);
      await fh.datasync();
      this.logBytes = header.length;
    } finally {
      await fh.close();
    }
    await fsyncDir(this.dir);
    this.logTorn = false;
  }

  async write(batch: WriteBatch): Promise<void> {
    const frames: Buffer[] = [];
    for (const key of batch.deletes) frames.push(encodeKeyFrame(FRAME_DELETE, { key }));
    for (const rec of batch.upserts) frames.push(encodeKeyFrame(FRAME_UPSERT, rec));
    frames.push(encodeMetaFrame(batch.meta));
    const data = Buffer.concat(frames);
    try {
      // A failed append (disk full) may have left part of a frame; frames after it would be unreadable.
      if (this.logTorn) {
        await fsp.truncate(this.logPath, this.logBytes);
        this.logTorn = false;
      }
      const fh = await this.logHandle();
      await fh.write(data);
      await fh.datasync();
      this.logBytes += data.length;
      this.lastError = undefined;
    } catch (err) {
      this.logTorn = true;
      await this.log?.close().catch(() => {});
      this.log = undefined;
      this.lastError = (err as Error).message;
      throw err;
    }
  }

  wantsCompaction(): boolean {
    return this.logBytes > Math.max(MIN_LOG_BYTES_FOR_COMPACTION, this.snapshotBytes);
  }

  async compact(meta: StoredMeta, all: Iterable<StoredKey>): Promise<void> {
    const tmp = path.join(this.dir, `${SNAPSHOT}.tmp`);
    const epoch = this.epoch + 1;
    const fh = await fsp.open(tmp, 'w');
    let bytes = 0;
    try {
      let chunk: Buffer[] = [encodeEpochFrame(epoch)];
      let chunkBytes = chunk[0].length;
      for (const rec of all) {
        const f = encodeKeyFrame(FRAME_UPSERT, rec);
        chunk.push(f);
        chunkBytes += f.length;
        if (chunkBytes > 1 << 20) {
          await fh.write(Buffer.concat(chunk));
          bytes += chunkBytes;
          chunk = [];
          chunkBytes = 0;
        }
      }
      chunk.push(encodeMetaFrame(meta));
      const tail = Buffer.concat(chunk);
      await fh.write(tail);
      bytes += tail.length;
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, path.join(this.dir, SNAPSHOT));
    await fsyncDir(this.dir);
    this.epoch = epoch;
    this.snapshotBytes = bytes;
    await this.restartLog();
  }

  async clear(): Promise<void> {
    await fsp.rm(path.join(this.dir, SNAPSHOT), { force: true });
    this.snapshotBytes = 0;
    await this.restartLog();
  }

  available(): boolean {
    return true;
  }

  status(): StoreStatus {
    return { kind: 'file', up: this.lastError === undefined, detail: this.lastError ?? this.dir };
  }

  async close(): Promise<void> {
    await this.log?.close();
    this.log = undefined;
  }
}

async function readIfExists(file: string): Promise<Buffer | null> {
  try {
    return await fsp.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

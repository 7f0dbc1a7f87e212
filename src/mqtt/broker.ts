import net from 'node:net';
import tls from 'node:tls';
import { Aedes, type AuthenticateError } from 'aedes';
import type { Logger } from 'pino';
import { type Config, readPemFile } from '../config.ts';
import { isLoopback, verifyPassword } from './auth.ts';
import { PacketSizeGuard, RetainedAllowance } from './limits.ts';
import { keepRetainedCurrent, type RetainedFreshness, type RetainedPersistence } from './retained.ts';

/**
 * The embedded MQTT broker (aedes), used when no external broker is configured.
 *
 * - Sockets get TCP_NODELAY: without it every request/response exchange (subscribe → retained message)
 *   stalls ~40 ms on Nagle + delayed ACK (reference/mqtt-redis-performance.md, C4).
 * - Loopback by default. An optional login (username + scrypt hash) and TLS; a loud warning when it
 *   listens beyond loopback without a login.
 * - Only patternd itself (in-process, no client) may publish its outputs — pattern states, status, stats,
 *   errors — so no device on the network can forge what Home Assistant sees.
 * - A subscriber gets each retained state as it is when sent, not as aedes read it earlier (retained.ts).
 */
export interface EmbeddedBroker {
  aedes: Aedes;
  /** Retained states being sent to new subscribers (retained.ts). */
  retained: RetainedFreshness;
  host: string;
  port: number;
  /** What the broker refused its other clients (`broker.maxPacketBytes`, `broker.maxRetainedBytes`). */
  readonly refused: { oversizePackets: number; unkeptRetained: number };
  /**
   * Stops taking MQTT traffic: no new connections, and every connection is closed. A device's QoS 1
   * publish that patternd has not taken stays unacknowledged, and the device resends it to the next run,
   * instead of aedes acknowledging it with no subscriber left to take it.
   */
  disconnectClients(): Promise<void>;
  close(): Promise<void>;
}

export class BrokerPortInUseError extends Error {
  override name = 'BrokerPortInUseError';
  constructor(host: string, port: number) {
    super(
      `cannot start the embedded MQTT broker: ${host}:${port} is already in use (often Mosquitto).\n` +
        `  Either use that broker:       MQTT_URL=mqtt://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port} npm start\n` +
        `  or give the embedded one another port:   BROKER_PORT=1884 npm start`,
    );
  }
}

/**
 * The embedded broker cannot listen where it is configured to for another reason than a busy port: an
 * address that is not this machine's (EADDRNOTAVAIL), a port below 1024 without the right (EACCES). Said
 * with the setting to change, not as a stack trace.
 */
export class BrokerListenError extends Error {
  override name = 'BrokerListenError';
  constructor(host: string, port: number, cause: NodeJS.ErrnoException) {
    super(
      `cannot start the embedded MQTT broker on ${host}:${port}: ${cause.message}\n` +
        '  Check broker.host / BROKER_HOST (an address of this machine, 127.0.0.1 or 0.0.0.0) and broker.port / BROKER_PORT.',
    );
  }
}

/**
 * Topics only patternd may publish on its embedded broker: its own outputs under `prefixes` (a prefix and
 * everything below it), and topics that begin with one of `starts` (its Home Assistant devices,
 * `<discovery>/device/patternd_…`). Any client could otherwise delete or replace its Home Assistant devices,
 * or leave a retained bridge response that every later requester received (an outside evaluation).
 */
export interface ProtectedTopics {
  prefixes: string[];
  starts: string[];
}

function isProtected(topic: string, p: ProtectedTopics): boolean {
  return (
    p.prefixes.some((prefix) => topic === prefix || topic.startsWith(`${prefix}/`)) ||
    p.starts.some((start) => topic.startsWith(start))
  );
}

export async function startBroker(
  cfg: Config['broker'],
  protectedTopics: ProtectedTopics,
  log: Logger,
): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker({
    drainTimeout: 10_000,
    authenticate: (_client, username, password, done) => {
      if (!cfg.username || !cfg.passwordHash) return done(null, true);
      const ok =
        username === cfg.username && password !== undefined && verifyPassword(password, cfg.passwordHash);
      if (ok) return done(null, true);
      const err = new Error('bad username or password') as AuthenticateError;
      err.returnCode = 4;
      done(err, false);
    },
    authorizePublish: (client, packet, done) => {
      if (client && isProtected(packet.topic, protectedTopics)) {
        return done(new Error(`${packet.topic} is published by patternd only`));
      }
      if (client && packet.retain && !allowance.take(packet.topic, packet.payload.length)) {
        packet.retain = false;
        refused.unkeptRetained++;
        warnOnce(
          `retained:${client.id}`,
          { client: client.id, topic: packet.topic, maxRetainedBytes: cfg.maxRetainedBytes },
          'embedded broker: not keeping a retained message, other clients already keep broker.maxRetainedBytes of them (it was delivered)',
        );
      }
      done(null);
    },
  });
  const allowance = new RetainedAllowance(cfg.maxRetainedBytes);
  const refused = { oversizePackets: 0, unkeptRetained: 0 };
  const warned = new Set<string>();
  const warnOnce = (what: string, fields: object, message: string) => {
    if (warned.size > 1000 || warned.has(what)) return;
    warned.add(what);
    log.warn(fields, message);
  };
  // aedes' typings leave out `persistence`, its (default, in-memory) store, which every broker has.
  const retained = keepRetainedCurrent(
    (aedes as unknown as { persistence: RetainedPersistence }).persistence,
  );
  const sockets = new Set<net.Socket>();
  const onSocket = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    limitPacketSize(aedes.handle(socket), socket, cfg.maxPacketBytes, (announced) => {
      refused.oversizePackets++;
      warnOnce(
        `packet:${socket.remoteAddress}`,
        { remote: socket.remoteAddress, bytes: announced, maxPacketBytes: cfg.maxPacketBytes },
        'embedded broker: closed a connection whose packet is larger than broker.maxPacketBytes',
      );
    });
  };
  const server = cfg.tls
    ? tls.createServer(
        {
          cert: readPemFile('broker.tls.cert', cfg.tls.cert, 'cert'),
          key: readPemFile('broker.tls.key', cfg.tls.key, 'key'),
          noDelay: true,
        },
        onSocket,
      )
    : net.createServer({ noDelay: true }, onSocket);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new BrokerPortInUseError(cfg.host, cfg.port)
          : new BrokerListenError(cfg.host, cfg.port, err),
      );
    });
    server.listen(cfg.port, cfg.host, () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  aedes.on('clientError', (client, err) =>
    log.debug({ client: client?.id, err: err.message }, 'mqtt client error'),
  );
  if (!isLoopback(cfg.host) && !cfg.username) {
    log.warn(
      { host: cfg.host, port: address.port },
      'SECURITY: the embedded MQTT broker accepts anyone on the network without a login; set broker.username and broker.passwordHash (patternd hash-password), or listen on 127.0.0.1',
    );
  }
  log.info(
    { host: cfg.host, port: address.port, tls: Boolean(cfg.tls), login: Boolean(cfg.username) },
    'embedded MQTT broker listening',
  );
  return {
    aedes,
    retained,
    refused,
    host: cfg.host,
    port: address.port,
    disconnectClients: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
    close: async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      // Already closed by `disconnectClients` on a graceful stop; the callback then gets an error.
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Closes the connection of a client whose packet announces more than `maxBytes`, before its body is
 * buffered. aedes (1.2.0, pinned) has no such limit: its client hands every chunk read from the socket to
 * its MQTT parser, which is where the guard looks first.
 */
function limitPacketSize(
  client: unknown,
  socket: net.Socket,
  maxBytes: number,
  onTooLarge: (announced: number) => void,
): void {
  const parser = (client as { _parser: { parse(chunk: Uint8Array): unknown } })._parser;
  const parse = parser.parse.bind(parser);
  const guard = new PacketSizeGuard(maxBytes);
  parser.parse = (chunk) => {
    const announced = guard.feed(chunk);
    if (announced === 0) return parse(chunk);
    onTooLarge(announced);
    socket.destroy();
    return undefined;
  };
}

import net from 'node:net';
import { Aedes } from 'aedes';
import type { Logger } from 'pino';

/**
 * The embedded MQTT broker (aedes), used when no external broker is configured.
 * Sockets get TCP_NODELAY: without it every request/response exchange (subscribe → retained message)
 * stalls ~40 ms on Nagle + delayed ACK (see reference/mqtt-redis-performance.md, C4).
 */
export interface EmbeddedBroker {
  aedes: Aedes;
  host: string;
  port: number;
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

export async function startBroker(host: string, port: number, log: Logger): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker({ drainTimeout: 10_000 });
  const server = net.createServer({ noDelay: true }, (socket) => aedes.handle(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE' ? new BrokerPortInUseError(host, port) : err);
    });
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  aedes.on('clientError', (client, err) =>
    log.debug({ client: client?.id, err: err.message }, 'mqtt client error'),
  );
  log.info({ host, port: address.port }, 'embedded MQTT broker listening');
  return {
    aedes,
    host,
    port: address.port,
    close: async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

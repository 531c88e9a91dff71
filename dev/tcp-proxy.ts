import type { AddressInfo, Server, Socket } from 'node:net';
import { connect, createServer } from 'node:net';

export interface TcpProxyOptions {
  /** Where connections go (a loopback port, e.g. Azurite's table service). */
  targetPort: number;
  targetHost?: string;
  /** The proxy's own port; 0 (default) picks a free one, which `restore()` then reuses. */
  port?: number;
}

/**
 * A TCP proxy on loopback that can play a network outage: `cut()` destroys every live connection and stops
 * listening (new connections are refused), `restore()` listens again on the same port. Tests put it in front of
 * Azurite to take storage away mid-crawl without losing Azurite's in-memory data.
 */
export class TcpProxy {
  readonly #targetPort: number;
  readonly #targetHost: string;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #port: number;
  #connections = 0;

  private constructor(options: TcpProxyOptions) {
    this.#targetPort = options.targetPort;
    this.#targetHost = options.targetHost ?? '127.0.0.1';
    this.#port = options.port ?? 0;
  }

  /** Starts a proxy to `targetPort` and resolves once it listens. */
  static async start(options: TcpProxyOptions): Promise<TcpProxy> {
    const proxy = new TcpProxy(options);
    await proxy.#listen();
    return proxy;
  }

  /** The port clients connect to (stable across `cut()` and `restore()`). */
  get port(): number {
    return this.#port;
  }

  /** Whether the proxy is passing traffic. */
  get up(): boolean {
    return this.#server !== undefined;
  }

  /** Client connections accepted so far. */
  get connections(): number {
    return this.#connections;
  }

  /** Drops every live connection (both sides) and refuses new ones until `restore()`. */
  async cut(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await closed;
  }

  /** Listens again on the same port. */
  async restore(): Promise<void> {
    if (this.#server) return;
    await this.#listen();
  }

  /** Stops for good. */
  close(): Promise<void> {
    return this.cut();
  }

  #listen(): Promise<void> {
    const server = createServer((client) => this.#pipe(client));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => {
        server.off('error', reject);
        this.#port = (server.address() as AddressInfo).port;
        this.#server = server;
        resolve();
      });
    });
  }

  #pipe(client: Socket): void {
    this.#connections += 1;
    const upstream = connect(this.#targetPort, this.#targetHost);
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.setNoDelay(true);
      // Either side failing ends both: the other side sees a reset, as in a real outage.
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      socket.on('close', () => {
        this.#sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

/**
 * The connection string of `connectionString` with its table and queue endpoints moved to other loopback ports
 * (the proxies'); the account, key and blob endpoint stay.
 */
export function withStoragePorts(connectionString: string, ports: { table: number; queue: number }): string {
  return connectionString
    .split(';')
    .map((part) => {
      const at = part.indexOf('=');
      const key = part.slice(0, at).toLowerCase();
      if (key !== 'tableendpoint' && key !== 'queueendpoint') return part;
      const url = new URL(part.slice(at + 1));
      url.port = String(key === 'tableendpoint' ? ports.table : ports.queue);
      return `${part.slice(0, at)}=${url.toString().replace(/\/$/, '')}`;
    })
    .join(';');
}

/** The table and queue ports of an explicit Azurite connection string. */
export function storagePorts(connectionString: string): { table: number; queue: number } {
  const endpoint = (name: string): number => {
    const part = connectionString
      .split(';')
      .find((entry) => entry.toLowerCase().startsWith(`${name.toLowerCase()}=`));
    if (!part) throw new Error(`The connection string has no ${name}`);
    return Number(new URL(part.slice(name.length + 1)).port);
  };
  return { table: endpoint('TableEndpoint'), queue: endpoint('QueueEndpoint') };
}

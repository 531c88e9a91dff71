import type { Server } from 'node:net';
import type { Socket } from 'node:net';

/** What the simulator knows about one client connection. */
export interface ConnectionInfo {
  /** Monotonic real ms when the TCP connection was accepted. */
  openedAt: number;
  /** Requests received on it so far. */
  requests: number;
}

/**
 * Remembers when each client connection was opened and how many requests it carried, so a request can be judged
 * by what its sender could have known: a later request on the connection that carried a 429 was sent after that
 * answer arrived (HTTP/1.1 clients here do not pipeline), while the first request on a connection opened earlier
 * may have been on its way already.
 */
export class ConnectionTracker {
  private readonly byAddress = new Map<string, ConnectionInfo>();
  private readonly bySocket = new WeakMap<object, ConnectionInfo>();

  constructor(private readonly clock: () => number) {}

  /** Records accepted connections of `server` (the raw TCP sockets, before TLS). */
  attach(server: Server): void {
    server.on('connection', (raw: Socket) => {
      const key = `${raw.remoteAddress ?? ''}:${raw.remotePort ?? ''}`;
      this.byAddress.set(key, { openedAt: this.clock(), requests: 0 });
      raw.once('close', () => this.byAddress.delete(key));
    });
  }

  /** Counts a request on its connection (the TLS socket of the request) and returns the connection's record. */
  noteRequest(socket: Socket): ConnectionInfo {
    let info = this.bySocket.get(socket);
    if (!info) {
      info = this.byAddress.get(`${socket.remoteAddress ?? ''}:${socket.remotePort ?? ''}`) ?? {
        openedAt: this.clock(),
        requests: 0,
      };
      this.bySocket.set(socket, info);
    }
    info.requests++;
    return info;
  }

  /** The record of a connection that has carried a request. */
  of(socket: Socket): ConnectionInfo {
    return this.bySocket.get(socket) ?? this.noteRequest(socket);
  }
}

import { request as httpRequest, Agent } from 'node:http';
import { connect } from 'node:net';

export interface RawAnswer {
  /** 0 when the server sent no status line. */
  status: number;
  head: string;
  body: string;
  /** Nothing at all came back before the time ran out (a hung request, unlike a refused one). */
  silent: boolean;
}

/**
 * Writes `bytes` as they are to a fresh connection and reads until the server closes it or `timeoutMs` passes
 * (a kept-alive connection stays open after its answer): for requests Node's own HTTP client refuses to send
 * (CR/LF in headers, bad framing, raw non-UTF-8 bytes).
 */
export function sendRaw(port: number, bytes: Buffer | string, timeoutMs = 3_000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closed = false;
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split >= 0 ? text.slice(0, split) : text;
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      resolve({ status, head, body: split >= 0 ? text.slice(split + 4) : '', silent: !closed && !text });
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {
      closed = true;
      finish();
    });
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('connect', () => socket.write(bytes));
  });
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A client for many small requests to one loopback server, a connection each (no keep-alive: a reused socket
 * the server is closing would fail a request for a reason of the client's own making).
 */
export function httpClient(port: number, maxSockets = 16, timeoutMs = 10_000) {
  const agent = new Agent({ keepAlive: false, maxSockets });
  return {
    send(options: {
      method: string;
      path: string;
      headers?: Record<string, string>;
      body?: string;
    }): Promise<HttpAnswer> {
      return new Promise((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            agent,
            method: options.method,
            path: options.path,
            // Framed explicitly: Node's client sends a DELETE, OPTIONS or TRACE body without a length.
            headers:
              options.body === undefined
                ? options.headers
                : { ...options.headers, 'content-length': String(Buffer.byteLength(options.body)) },
            timeout: timeoutMs,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                headers: res.headers,
                body: Buffer.concat(chunks).toString('utf8'),
              }),
            );
            res.on('error', reject);
          },
        );
        req.on('timeout', () => req.destroy(new Error(`no answer to ${options.method} ${options.path}`)));
        req.on('error', (error) =>
          reject(new Error(`${options.method} ${options.path.slice(0, 200)}: ${error.message}`)),
        );
        req.end(options.body);
      });
    },
    close(): void {
      agent.destroy();
    },
  };
}

import type { Context, Middleware } from '@microsoft/microsoft-graph-client';
import type { IncomingMessage } from 'node:http';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/** What `TenantGraph` reads of an answer (a `Response`'s status, headers and text). */
interface NodeAnswer {
  status: number;
  ok: boolean;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
  json(): Promise<unknown>;
}

/**
 * What the handler asks of the tenant's pacing at the wire: whether a hold is in force at the moment a request's
 * first byte would be written, and the status and headers of each answer as soon as they arrive (before its body).
 */
export interface WireGate {
  /** Until when (ms since the epoch) nothing may be written; 0 or in the past when nothing holds. */
  holdUntil(): number;
  /**
   * Counts an answer whose body is watched (the option `onBodyChunk`: a `$batch`, whose inner answers may hold the
   * tenant) as being read, from its head until the returned function is called.
   */
  reading?(): () => void;
  /** Settles once the bodies being read now have been read (or a bounded wait passed); undefined when none. */
  whenRead?(): Promise<void> | undefined;
}

/** A request sent to another origin than the one the handler's bearer token is for. */
export class ForeignOrigin extends Error {
  constructor(readonly origin: string) {
    super(`Refused to send a request to ${origin}: the token is only for the Graph origin`);
    this.name = 'ForeignOrigin';
  }
}

/** A request answer's head, passed per request as the option `onAnswerHead` (see `TenantGraph`). */
export type AnswerHeadListener = (status: number, headers: { get(name: string): string | null }) => void;

/** Each decoded piece of an answer's body as it arrives, passed per request as the option `onBodyChunk`. */
export type BodyChunkListener = (chunk: Buffer) => void;

/**
 * A request taken back before its first byte because a hold began while it waited for its socket. The Graph client
 * passes it on as a `GraphError` whose `code` is this error's name (`isHeldBack`); the caller waits and sends again.
 */
export class HeldBack extends Error {
  constructor(readonly until: number) {
    super('held back by a Retry-After hold');
    this.name = 'HeldBack';
  }
}

/** Whether `error` (as the Graph client rethrows it) is a `ForeignOrigin`. */
export function isForeignOrigin(error: unknown): boolean {
  const { name, code } = (error ?? {}) as { name?: unknown; code?: unknown };
  return name === 'ForeignOrigin' || code === 'ForeignOrigin';
}

/** Whether `error` (as the Graph client rethrows it) is a `HeldBack`. */
export function isHeldBack(error: unknown): boolean {
  const { name, code } = (error ?? {}) as { name?: unknown; code?: unknown };
  return name === 'HeldBack' || code === 'HeldBack';
}

/** One keep-alive pool per process, like fetch's. */
const agents = { https: new HttpsAgent({ keepAlive: true }), http: new HttpAgent({ keepAlive: true }) };

/** The request headers as a plain record (the Graph client passes a plain object; a `Headers` works too). */
function headerRecord(headers: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers instanceof Headers) {
    headers.forEach((value, name) => {
      out[name] = value;
    });
  } else if (headers && typeof headers === 'object' && !Array.isArray(headers)) {
    for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
      if (typeof value === 'string') out[name] = value;
    }
  }
  return out;
}

/**
 * The most bytes of an answer's body (after decoding) the handler reads: ten times the largest answer the crawl
 * asks for (a `$batch` of 20 root pages of 1,000 items with 400-character names, about 6 MiB). A body past it, or
 * a compressed body that inflates past it, fails the request instead of the process (docs/throttling.md).
 */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** A streaming decoder for the answer's `Content-Encoding`, or undefined for an identity body. */
function decoderFor(encoding: string | undefined): Transform | undefined {
  switch (encoding?.trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      return undefined;
  }
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const error = new Error('The operation was aborted');
  error.name = 'AbortError';
  return error;
}

/**
 * The Graph client's last middleware, sending with Node's own `http(s)` and a keep-alive agent instead of the
 * global `fetch`. Same contract as the client's `HTTPMessageHandler` (the answer, whatever its status, goes to
 * `context.response`; a failed connection or an abort rejects), at a fraction of the CPU: on the benchmark's
 * machine `fetch` spent about 2.5 ms of CPU per `$batch` round trip and `node:https` about 0.8 ms.
 */
export class NodeHttpMessageHandler implements Middleware {
  readonly #gate: WireGate | undefined;
  readonly #origin: string | undefined;

  /**
   * With a `gate`, no byte of a request is written while it holds: the request is handed to the agent, and only
   * once its socket is connected is the hold read and, if none, the request written in the same tick. A request
   * that meets a hold there is taken back unwritten (`HeldBack`) for its caller to wait out (docs/throttling.md).
   */
  constructor(gate?: WireGate, options: { origin?: string } = {}) {
    this.#gate = gate;
    this.#origin = options.origin === undefined ? undefined : new URL(options.origin).origin;
  }

  async execute(context: Context): Promise<void> {
    // `RequestInfo` is a DOM type this project does not load: a URL string, or a `Request` with its `url`.
    const request: unknown = context.request;
    const url = new URL(typeof request === 'string' ? request : (request as { url: string }).url);
    // The bearer token (the option `bearer`) is added here and nowhere else, and only for the one origin it is for;
    // with an origin set, nothing is sent anywhere else. The URL sent is this parsed one, the one checked.
    if (this.#origin !== undefined && (url.origin !== this.#origin || url.username || url.password)) {
      throw new ForeignOrigin(url.origin);
    }
    const options = context.options ?? {};
    const body = options.body;
    if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof Uint8Array)) {
      throw new TypeError('NodeHttpMessageHandler sends string or byte bodies only');
    }
    const headers: Record<string, string> = {
      'Accept-Encoding': 'gzip, deflate',
      ...headerRecord(options.headers),
    };
    // Encoded once here: `http` would measure a string body and then encode it again.
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : (body ?? undefined);
    if (bytes !== undefined) headers['Content-Length'] = String(bytes.byteLength);
    const {
      onAnswerHead: onHead,
      onBodyChunk: onChunk,
      bearer,
    } = options as {
      onAnswerHead?: AnswerHeadListener;
      onBodyChunk?: BodyChunkListener;
      bearer?: string;
    };
    if (bearer !== undefined) {
      if (this.#origin === undefined)
        throw new TypeError('A bearer token needs the handler to know its origin');
      headers.Authorization = `Bearer ${bearer}`;
    }
    const answer = await send({
      url,
      method: options.method ?? 'GET',
      headers,
      body: bytes,
      signal: options.signal ?? undefined,
      gate: this.#gate,
      onHead,
      onChunk,
    });
    context.response = answer as unknown as Response;
  }
}

/** A loop turn longer than this may have let an answer arrive after its poll phase read the sockets. */
export const BUSY_TURN_MS = 10;
/** Poll phases waited at most before a request is written however busy the process is. */
export const MAX_READ_TURNS = 8;
/** Times a request waits at most for the watched bodies being read before it reads the hold. */
export const MAX_BODY_WAITS = 3;

/**
 * Calls `fn` once the event loop has been through a poll phase, where it reads what has arrived on sockets, and
 * that phase was recent. A request is sent from a timer, a promise continuation or another answer's callback, and
 * Node runs those before it reads the sockets again: a busy process (a long answer parsed, a GC pause, a starved
 * CPU) could otherwise write a request while a `429` it has already received waits unread in a socket buffer. The
 * first `setImmediate` reaches the end of the current loop turn, the second the end of the next, after one whole
 * poll phase (which does not block while an immediate is pending). When those turns took long, an answer may have
 * arrived while the poll phase's callbacks ran: the sockets are read once more (docs/throttling.md).
 */
export function afterPendingReads(fn: () => void, turns = 1): void {
  const from = performance.now();
  setImmediate(() =>
    setImmediate(() => {
      if (performance.now() - from > BUSY_TURN_MS && turns < MAX_READ_TURNS) afterPendingReads(fn, turns + 1);
      else fn();
    }),
  );
}

interface Outgoing {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: Uint8Array | undefined;
  signal: AbortSignal | undefined;
  gate: WireGate | undefined;
  onHead: AnswerHeadListener | undefined;
  onChunk: BodyChunkListener | undefined;
}

function send({ url, method, headers, body, signal, gate, onHead, onChunk }: Outgoing): Promise<NodeAnswer> {
  return new Promise<NodeAnswer>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const secure = url.protocol === 'https:';
    const req = (secure ? httpsRequest : httpRequest)(url, {
      method,
      headers,
      agent: secure ? agents.https : agents.http,
    });
    // Nothing is written until the socket is connected: headers and body leave together in `write`, after the
    // hold is read in the same tick. (A request ended at once would have its bytes queued on a connecting
    // socket, to leave when the connection opens, whatever had arrived meanwhile.) With a gate, the process first
    // reads what its sockets have received (`afterPendingReads`), so a 429 already in a socket's buffer holds it,
    // and waits for the tenant's `$batch` bodies being read: a large one is read over several loop turns, and a
    // throttled inner answer near its end may already be in this process, unread (docs/throttling.md).
    const write = (waits: number): void => {
      if (req.destroyed) return;
      const reading = waits < MAX_BODY_WAITS ? gate?.whenRead?.() : undefined;
      if (reading) {
        void reading.then(() => afterPendingReads(() => write(waits + 1)));
        return;
      }
      const until = gate?.holdUntil() ?? 0;
      if (until > Date.now()) req.destroy(new HeldBack(until));
      else req.end(body);
    };
    const gatedWrite = gate ? () => afterPendingReads(() => write(0)) : () => write(0);
    req.once('socket', (socket) => {
      if (!socket.connecting) gatedWrite();
      else socket.once(secure ? 'secureConnect' : 'connect', gatedWrite);
    });
    const onAbort = (): void => {
      req.destroy(signal ? abortError(signal) : undefined);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let bodyRead: (() => void) | undefined;
    const done = (): void => {
      signal?.removeEventListener('abort', onAbort);
      bodyRead?.();
    };
    req.on('error', (error) => {
      done();
      reject(error);
    });
    req.on('response', (res: IncomingMessage) => {
      const raw = res.headers;
      const answerHeaders = {
        get: (name: string): string | null => {
          const value = raw[name.toLowerCase()];
          if (value === undefined) return null;
          return Array.isArray(value) ? value.join(', ') : value;
        },
      };
      // The head is the answer as far as throttling goes: a 429 holds the tenant before its body is read. A watched
      // body may hold it too: it counts as being read until its end (or the answer fails or closes).
      if (onChunk) {
        bodyRead = gate?.reading?.();
        res.once('close', done);
      }
      onHead?.(res.statusCode ?? 0, answerHeaders);
      const decoder = decoderFor(res.headers['content-encoding']);
      const body = decoder ? res.pipe(decoder) : res;
      const chunks: Buffer[] = [];
      let bytes = 0;
      const fail = (error: Error): void => {
        done();
        res.destroy();
        decoder?.destroy();
        reject(error);
      };
      body.on('data', (chunk: Buffer) => {
        bytes += chunk.byteLength;
        if (bytes > MAX_ANSWER_BYTES) {
          fail(new Error(`The answer's body exceeds ${MAX_ANSWER_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
        onChunk?.(chunk);
      });
      res.on('error', fail);
      decoder?.on('error', fail);
      body.on('end', () => {
        done();
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        resolve({
          status,
          ok: status >= 200 && status < 300,
          headers: answerHeaders,
          text: () => Promise.resolve(text),
          json: () => Promise.resolve(JSON.parse(text) as unknown),
        });
      });
    });
  });
}

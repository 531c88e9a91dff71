import { Client, ResponseType } from '@microsoft/microsoft-graph-client';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import {
  afterPendingReads,
  BUSY_TURN_MS,
  isForeignOrigin,
  isHeldBack,
  MAX_ANSWER_BYTES,
  MAX_READ_TURNS,
  NodeHttpMessageHandler,
} from '../../src/graph/node-http-handler';
import { TenantHold } from '../../src/graph/tenant-hold';

describe('NodeHttpMessageHandler', () => {
  let server: Server;
  let origin: string;
  const seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }> = [];
  let answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        answer(req, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    seen.length = 0;
  });

  const client = (): Client =>
    Client.initWithMiddleware({
      baseUrl: `${origin}/`,
      defaultVersion: 'v1.0',
      customHosts: new Set(['127.0.0.1']),
      middleware: new NodeHttpMessageHandler(),
    });

  it('sends the method, headers and body and hands back status, headers and text', async () => {
    answer = (_req, res) => {
      res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '3' });
      res.end('{"ok":true}');
    };
    const response = (await client()
      .api('/$batch')
      .headers({ Authorization: 'Bearer x', 'X-Test': 'one' })
      .responseType(ResponseType.RAW)
      .post({ requests: [] })) as Response;

    expect(response.status).toBe(429);
    expect(response.ok).toBe(false);
    expect(response.headers.get('retry-after')).toBe('3');
    expect(response.headers.get('RateLimit-Limit')).toBeNull();
    expect(await response.text()).toBe('{"ok":true}');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/v1.0/$batch', body: '{"requests":[]}' });
    expect(seen[0]?.headers['x-test']).toBe('one');
    expect(seen[0]?.headers['content-length']).toBe(String('{"requests":[]}'.length));
  });

  it('sends a body with non-ASCII text whole, its Content-Length in bytes', async () => {
    answer = (_req, res) => {
      res.writeHead(204);
      res.end();
    };
    const body = { requests: [{ id: '1', method: 'GET', url: "/users/Dökümän 報告's 📁" }] };
    await client().api('/$batch').responseType(ResponseType.RAW).post(body);

    const sent = JSON.stringify(body);
    expect(seen[0]?.body).toBe(sent);
    expect(seen[0]?.headers['content-length']).toBe(String(Buffer.byteLength(sent)));
    expect(Buffer.byteLength(sent)).toBeGreaterThan(sent.length);
  });

  it('decodes a gzip answer', async () => {
    answer = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
      res.end(gzipSync('{"value":[1,2,3]}'));
    };
    const response = (await client().api('/users').responseType(ResponseType.RAW).get()) as Response;

    expect(response.ok).toBe(true);
    expect(await response.json()).toEqual({ value: [1, 2, 3] });
    expect(seen[0]?.headers['accept-encoding']).toContain('gzip');
  });

  it('rejects when the signal aborts, and when the connection is refused', async () => {
    answer = () => undefined; // never answers
    const controller = new AbortController();
    const pending = client()
      .api('/users')
      .option('signal', controller.signal)
      .responseType(ResponseType.RAW)
      .get();
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toThrow();

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(
      Client.initWithMiddleware({
        baseUrl: `http://127.0.0.1:${port}/`,
        customHosts: new Set(['127.0.0.1']),
        middleware: new NodeHttpMessageHandler(),
      })
        .api('/users')
        .responseType(ResponseType.RAW)
        .get(),
    ).rejects.toThrow();
  });

  const gated = (holdUntil: () => number): Client =>
    Client.initWithMiddleware({
      baseUrl: `${origin}/`,
      defaultVersion: 'v1.0',
      customHosts: new Set(['127.0.0.1']),
      middleware: new NodeHttpMessageHandler({ holdUntil }),
    });

  it('writes nothing while the gate holds, on a new connection or a reused one, and says so (HeldBack)', async () => {
    answer = (_req, res) => res.end('{}');
    // A kept-alive connection exists after this; the next request may reuse it.
    await gated(() => 0)
      .api('/users')
      .responseType(ResponseType.RAW)
      .get();
    seen.length = 0;
    let checks = 0;
    const held = gated(() => {
      checks += 1;
      return Date.now() + 60_000;
    });
    for (let i = 0; i < 3; i += 1) {
      const error: unknown = await held
        .api('/users')
        .responseType(ResponseType.RAW)
        .get()
        .then(
          () => undefined,
          (caught: unknown) => caught,
        );
      expect(isHeldBack(error)).toBe(true);
    }
    // Read once per request, right before it would have been written; the server saw none of them.
    expect(checks).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen).toHaveLength(0);
  });

  it("passes an answer's head on before its body has arrived, and its decoded body chunk by chunk", async () => {
    let finish: (() => void) | undefined;
    answer = (_req, res) => {
      res.writeHead(503, { 'Retry-After': '7', 'Content-Encoding': 'gzip' });
      const zipped = gzipSync('{"error":{"code":"serviceNotAvailable"}}');
      res.write(zipped.subarray(0, 10));
      finish = () => res.end(zipped.subarray(10));
    };
    const heads: Array<[number, string | null]> = [];
    const chunks: string[] = [];
    const response = (await client()
      .api('/users')
      .option('onAnswerHead', (status: number, headers: { get(name: string): string | null }) => {
        heads.push([status, headers.get('Retry-After')]);
        // The body's end comes only once the head was seen: without the early head, this request would hang.
        finish?.();
      })
      .option('onBodyChunk', (chunk: Buffer) => chunks.push(chunk.toString('utf8')))
      .responseType(ResponseType.RAW)
      .get()) as Response;
    expect(heads).toEqual([[503, '7']]);
    expect(chunks.join('')).toBe('{"error":{"code":"serviceNotAvailable"}}');
    expect(await response.text()).toBe('{"error":{"code":"serviceNotAvailable"}}');
  });

  it('fails an answer whose body inflates past the limit, without holding it whole', async () => {
    // About 64 KiB on the wire, 65 MiB once inflated.
    const bomb = gzipSync(Buffer.alloc(MAX_ANSWER_BYTES + 1_048_576));
    answer = (_req, res) => {
      res.writeHead(200, { 'Content-Encoding': 'gzip' });
      res.end(bomb);
    };
    expect(bomb.byteLength).toBeLessThan(1_048_576);
    await expect(client().api('/users').responseType(ResponseType.RAW).get()).rejects.toThrow(
      /exceeds 67108864 bytes/,
    );
  });

  it('adds the bearer token only on its own origin, and sends nothing anywhere else, whatever the URL looks like', async () => {
    const evilSeen: IncomingMessage['headers'][] = [];
    const evil = createServer((req, res) => {
      evilSeen.push(req.headers);
      res.end('{}');
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    const evilPort = (evil.address() as AddressInfo).port;
    const graphPort = new URL(origin).port;
    answer = (_req, res) => res.end('{}');
    const graph = Client.initWithMiddleware({
      baseUrl: `${origin}/`,
      defaultVersion: 'v1.0',
      customHosts: new Set(['127.0.0.1']),
      middleware: new NodeHttpMessageHandler(undefined, { origin }),
    });
    const variants = [
      `http://127.0.0.1:${evilPort}/v1.0/users`,
      `HTTP://127.0.0.1:${evilPort}/v1.0/users?x=${origin}/v1.0/users`,
      `http://127.0.0.1:${graphPort}\\@127.0.0.1:${evilPort}/v1.0/users`,
      `http://127.0.0.1:${graphPort}@127.0.0.1:${evilPort}/v1.0/users`,
      `http://user:secret@127.0.0.1:${graphPort}/v1.0/users`,
      `http://localhost:${graphPort}/v1.0/users`,
      `http://127.0.0.1:${evilPort}@127.0.0.1:${graphPort}/v1.0/users`,
      `HTTP://127.0.0.1:${graphPort}/v1.0/users?x=http://127.0.0.1:${evilPort}/a`,
      `/users?next=http://127.0.0.1:${evilPort}/`,
    ];
    try {
      for (const variant of variants) {
        seen.length = 0;
        const outcome = await graph
          .api(variant)
          .option('bearer', 'the-token')
          .responseType(ResponseType.RAW)
          .get()
          .then(
            () => 'sent',
            (error: unknown) => (isForeignOrigin(error) ? 'refused' : `failed: ${String(error)}`),
          );
        // Either refused, or sent to the token's own origin (with the token and no userinfo), never elsewhere.
        if (outcome === 'sent') {
          expect({ variant, auth: seen[0]?.headers.authorization }).toEqual({
            variant,
            auth: 'Bearer the-token',
          });
        } else {
          expect({ variant, outcome }).toEqual({ variant, outcome: 'refused' });
          expect(seen).toHaveLength(0);
        }
      }
      expect(evilSeen).toEqual([]);
    } finally {
      evil.closeAllConnections();
      await new Promise((resolve) => evil.close(resolve));
    }
  });
  it('reads what its sockets received before writing: a 429 waiting unread in a buffer holds the next request', async () => {
    // The server runs on a thread of its own, so it can answer while this one is busy. flags: [0] go (this thread
    // lets the server answer /a), [1] the 429 of /a has been handed to the socket, [2] requests for /b received.
    const flags = new Int32Array(new SharedArrayBuffer(12));
    const worker = new Worker(
      `const { createServer } = require('node:http');
       const { parentPort, workerData: flags } = require('node:worker_threads');
       const server = createServer((req, res) => {
         if (req.url.endsWith('/b')) Atomics.add(flags, 2, 1);
         if (!req.url.endsWith('/a')) return res.end('{}');
         parentPort.postMessage('a');
         Atomics.wait(flags, 0, 0, 10000);
         res.on('finish', () => { Atomics.store(flags, 1, 1); Atomics.notify(flags, 1); });
         res.writeHead(429, { 'Retry-After': '5' });
         res.end('{}');
       });
       server.keepAliveTimeout = 60000;
       server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));`,
      { eval: true, workerData: flags },
    );
    try {
      const port = await new Promise<number>((resolve) => worker.once('message', resolve));
      let hold = 0;
      const graph = Client.initWithMiddleware({
        baseUrl: `http://127.0.0.1:${port}/`,
        defaultVersion: 'v1.0',
        customHosts: new Set(['127.0.0.1']),
        middleware: new NodeHttpMessageHandler({ holdUntil: () => hold }),
      });
      const get = (path: string) => graph.api(path).responseType(ResponseType.RAW);
      // Two kept-alive connections: /b goes out on one while /a is on the other.
      await Promise.all([get('/warm').get(), get('/warm').get()]);
      const answerOfA = get('/a')
        .option('onAnswerHead', (status: number) => {
          if (status === 429) hold = Date.now() + 5_000;
        })
        .get() as Promise<Response>;
      const errorOfB = await new Promise<unknown>((resolve) => {
        worker.once('message', () => {
          // /a has arrived: let the server answer it, and stay busy until its 429 is in this side's socket buffer.
          Atomics.store(flags, 0, 1);
          Atomics.notify(flags, 0);
          Atomics.wait(flags, 1, 0, 10_000);
          get('/b')
            .get()
            .then(
              () => resolve(undefined),
              (caught: unknown) => resolve(caught),
            );
        });
      });
      expect((await answerOfA).status).toBe(429);
      expect(isHeldBack(errorOfB)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(Atomics.load(flags, 2)).toBe(0);
    } finally {
      await worker.terminate();
    }
  });
});

describe('NodeHttpMessageHandler, a request leaving while a $batch body is read', () => {
  it('waits for the body: a throttled inner answer near its end, already received, holds the request', async () => {
    // About 8 MiB of inner answers, the throttled one last: more than one poll phase reads of a socket, so the
    // body is still being read, its 503 already on this side, when the next request is about to leave.
    const worker = new Worker(
      `const { createServer } = require('node:http');
       const { parentPort } = require('node:worker_threads');
       const filler = { id: '0', status: 200, body: { value: 'x'.repeat(400_000) } };
       const responses = Array.from({ length: 20 }, (_, i) => ({ ...filler, id: String(i + 1) }));
       responses.push({ id: '21', status: 503, headers: { 'Retry-After': '5' }, body: {} });
       const batch = Buffer.from(JSON.stringify({ responses }));
       let others = 0;
       const server = createServer((req, res) => {
         if (req.url.endsWith('/$batch')) return res.end(batch);
         if (req.url.endsWith('/other')) others += 1;
         if (req.url.endsWith('/count')) return res.end(String(others));
         res.end('{}');
       });
       server.keepAliveTimeout = 60000;
       server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));`,
      { eval: true },
    );
    try {
      const port = await new Promise<number>((resolve) => worker.once('message', resolve));
      const hold = new TenantHold();
      const graph = Client.initWithMiddleware({
        baseUrl: `http://127.0.0.1:${port}/`,
        defaultVersion: 'v1.0',
        customHosts: new Set(['127.0.0.1']),
        middleware: new NodeHttpMessageHandler({
          holdUntil: () => hold.until(),
          reading: () => hold.reading(),
          whenRead: () => hold.whenRead(),
        }),
      });
      const get = (path: string) => graph.api(path).responseType(ResponseType.RAW);
      await Promise.all([get('/warm').get(), get('/warm').get()]);
      // The crawl's scan of a $batch body: the tenant is pinned from the moment a throttled status is seen.
      let tail = '';
      let unpin: (() => void) | undefined;
      let other: Promise<unknown> | undefined;
      const batch = (await graph
        .api('/$batch')
        .responseType(ResponseType.RAW)
        .option('onAnswerHead', () => {
          // The body has begun to arrive: another request of the tenant is about to leave.
          other = get('/other')
            .get()
            .then(
              () => undefined,
              (caught: unknown) => caught,
            );
        })
        .option('onBodyChunk', (chunk: Buffer) => {
          const text = tail + chunk.toString('latin1');
          if (text.includes('"status":503')) unpin ??= hold.pin();
          tail = text.slice(-16);
        })
        .post({ requests: [] })) as Response;
      expect(batch.status).toBe(200);
      expect(isHeldBack(await other)).toBe(true);
      expect(hold.whenRead()).toBeUndefined();
      unpin?.();
      const count = (await get('/count').get()) as Response;
      expect(await count.text()).toBe('0');
    } finally {
      await worker.terminate();
    }
  });
});

describe('afterPendingReads (what a gated request waits for before it is written)', () => {
  /** Counts event loop turns: a chain of immediates, one per check phase, each busy for `busyMs` if asked. */
  function countTurns(busyMs = 0): { turns: () => number; stop: () => void } {
    let turns = 0;
    let on = true;
    const tick = (): void => {
      turns += 1;
      const until = performance.now() + busyMs;
      while (performance.now() < until) {
        // a busy turn: a long answer parsed, a GC pause, a starved CPU
      }
      if (on) setImmediate(tick);
    };
    setImmediate(tick);
    return { turns: () => turns, stop: () => (on = false) };
  }

  it('waits for a poll phase more when the turns it waited were busy: an answer may have come meanwhile', async () => {
    const counter = countTurns();
    const ranAfter = await new Promise<number>((resolve) => {
      afterPendingReads(() => resolve(counter.turns()));
      // One busy turn: the poll phase after it is the first that surely read what arrived during it.
      setImmediate(() => {
        const until = performance.now() + 3 * BUSY_TURN_MS;
        while (performance.now() < until) {
          // busy
        }
      });
    });
    counter.stop();
    // Two turns for the first look, two more after the busy one.
    expect(ranAfter).toBeGreaterThanOrEqual(4);
  });

  it('writes after a bounded number of looks however busy every turn is', async () => {
    const counter = countTurns(2 * BUSY_TURN_MS);
    const ranAfter = await new Promise<number>((resolve) =>
      afterPendingReads(() => resolve(counter.turns())),
    );
    counter.stop();
    expect(ranAfter).toBeGreaterThanOrEqual(2 * MAX_READ_TURNS - 1);
    expect(ranAfter).toBeLessThanOrEqual(2 * MAX_READ_TURNS + 1);
  });
});

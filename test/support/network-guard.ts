import net from 'node:net';

/** A connection attempt the guard refused. */
export interface NetworkViolation {
  host: string;
  port: number | undefined;
}

const violations: NetworkViolation[] = [];
let installed = false;

/** True for addresses on this machine: 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare === '::1' || bare === '0:0:0:0:0:0:0:1') return true;
  const v4 = bare.startsWith('::ffff:') ? bare.slice('::ffff:'.length) : bare;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

function targetOf(args: unknown[]): { host?: string; port?: number; path?: string } {
  const [first, second] = args;
  if (typeof first === 'object' && first !== null) {
    const options = first as { host?: unknown; port?: unknown; path?: unknown };
    return {
      host: typeof options.host === 'string' ? options.host : undefined,
      port: typeof options.port === 'number' ? options.port : Number(options.port) || undefined,
      path: typeof options.path === 'string' ? options.path : undefined,
    };
  }
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    return { port: Number(first), host: typeof second === 'string' ? second : undefined };
  }
  if (typeof first === 'string') return { path: first };
  return {};
}

/**
 * Makes every TCP connection to a non-loopback address fail (the socket is destroyed with an error before any
 * packet leaves) and remembers the attempt, so the test that made it can be failed. Unix sockets pass.
 */
export function installNetworkGuard(): void {
  if (installed) return;
  installed = true;
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const original = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
    const target = targetOf(args);
    if (target.path === undefined) {
      const host = target.host ?? 'localhost';
      if (!isLoopbackHost(host)) {
        violations.push({ host, port: target.port });
        process.nextTick(() =>
          this.destroy(
            Object.assign(new Error(`Network guard: connection to ${host}:${String(target.port)} refused`), {
              code: 'ENETUNREACH',
            }),
          ),
        );
        return this;
      }
    }
    return (original as (...a: unknown[]) => net.Socket).apply(this, args);
  };
}

/** Returns and clears the refused attempts since the last call. */
export function takeNetworkViolations(): NetworkViolation[] {
  return violations.splice(0, violations.length);
}

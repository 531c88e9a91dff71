/**
 * Runs a command with `NODE_EXTRA_CA_CERTS` pointing at a bundle that trusts the simulator's test CA.
 * Node reads that variable only when a process starts, so the CA has to exist before jest, the demo or the
 * benchmark start: `tsx dev/with-test-tls.ts <command> [args...]`.
 */
import { spawn } from 'node:child_process';
import { ensureTestTls } from './tls/test-ca';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  process.stderr.write('usage: with-test-tls <command> [args...]\n');
  process.exit(2);
}
const { bundlePath } = ensureTestTls();
const child = spawn(command, args, {
  stdio: 'inherit',
  env: { ...process.env, NODE_EXTRA_CA_CERTS: bundlePath },
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => {
  process.exit(code ?? (signal ? 128 + 1 : 1));
});

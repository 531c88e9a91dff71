import path from 'node:path';
import { startTsChild } from '../../dev/bench/children';

const FIXTURE = path.join(__dirname, 'fixtures', 'job-echo.ts');

interface JobEcho {
  event: 'job';
  job: unknown;
  argv: string[];
  sourceMapsEnabled: boolean;
}

const isEvent =
  <T extends { event: string }>(event: T['event']) =>
  (message: unknown): message is T =>
    (message as { event?: unknown }).event === event;

describe('benchmark children', () => {
  it('get their job on stdin, never in their arguments, and run without source maps as the deployment does', async () => {
    const job = { env: { AZURE_CLIENT_SECRET: 'bench~not-for-ps' }, tenants: ['a', 'b'] };
    const child = startTsChild(FIXTURE, ['--label', 'one'], { job });

    const echo = await child.next(isEvent<JobEcho>('job'), 30_000);
    expect(echo.job).toEqual(job);
    expect(echo.argv).toEqual(['--label', 'one']);
    expect(echo.argv.join(' ')).not.toContain('not-for-ps');
    expect(echo.sourceMapsEnabled).toBe(false);

    child.process.stdin!.write('report\n');
    await expect(child.next(isEvent<{ event: 'line'; line: string }>('line'), 30_000)).resolves.toEqual({
      event: 'line',
      line: 'report',
    });

    child.process.stdin!.end();
    await expect(child.exited).resolves.toBe(0);
  }, 60_000);
});

import https from 'node:https';
import { isLoopbackHost, takeNetworkViolations } from './support/network-guard';

describe('network guard', () => {
  it('recognises loopback addresses and nothing else', () => {
    for (const host of ['127.0.0.1', '127.10.0.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) {
      expect(isLoopbackHost(host)).toBe(true);
    }
    for (const host of ['10.0.0.1', '169.254.169.254', 'graph.microsoft.com', '8.8.8.8', '::ffff:10.0.0.1']) {
      expect(isLoopbackHost(host)).toBe(false);
    }
  });

  it('refuses a connection beyond loopback and records it', async () => {
    const error = await new Promise<Error>((resolve) => {
      https
        .get('https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration', () => {
          resolve(new Error('unexpected answer'));
        })
        .on('error', resolve);
    });
    expect(error.message).toMatch(/Network guard/);
    // Taking the violation here keeps this one test green; any other test that tried would fail in afterEach.
    expect(takeNetworkViolations()).toEqual([{ host: 'login.microsoftonline.com', port: 443 }]);
  });

  it('refuses the managed identity endpoint', async () => {
    const error = await new Promise<Error>((resolve) => {
      https
        .get('http://169.254.169.254/metadata/identity/oauth2/token'.replace('http:', 'https:'), () => {
          resolve(new Error('unexpected answer'));
        })
        .on('error', resolve);
    });
    expect(error.message).toMatch(/Network guard/);
    expect(takeNetworkViolations()).toHaveLength(1);
  });
});

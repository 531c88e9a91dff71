import { createAppContext } from '../../src/app-context';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logging/logger';
import { operatorCredential } from '../../dev/sim/operator-credential';
import { sim } from '../support/sim';
import { createTestApp } from '../support/test-app';
import { consentClient } from './consent-client';

describe('one context per process', () => {
  it('crawls without the consent settings, and the consent routes say which settings they miss', async () => {
    const app = await createTestApp();
    const env = { ...app.env };
    delete env.CONSENT_REDIRECT_URI;
    delete env.HOME_TENANT_ID;
    const context = createAppContext(loadConfig(env), {
      logger: createLogger(() => undefined),
      hostIdentity: operatorCredential(await sim().env()),
    });
    // The crawl side works: the planner's view of the tenants and the app's credential.
    await expect(context.registry.listCrawlable()).resolves.toEqual(expect.any(Array));
    await expect(context.appCredential.current()).resolves.toMatchObject({ version: expect.any(String) });
    const client = consentClient(context);
    const landing = await client.landing();
    expect(landing.status).toBe(500);
    const failure = client.logs.find((line) => line.includes('request failed')) ?? '';
    expect(failure).toContain('CONSENT_REDIRECT_URI is required');
    expect(failure).toContain('HOME_TENANT_ID is required');
  });
});

import { ClientCertificateCredential } from '@azure/identity';
import { createAppCertificate } from '../../dev/sim/app-certificate';
import { SimClient } from '../../dev/sim/sim-client';
import { SimError } from '../../dev/sim/sim-error';
import type { SimulatedCloud } from '../../dev/sim/simulated-cloud';
import { startSimulatedCloud } from '../../dev/sim/simulated-cloud';
import { credential, jwtPayload, uniqueSeed } from './sim-sdk';

describe('SimClient', () => {
  let cloud: SimulatedCloud;
  let client: SimClient;

  beforeAll(async () => {
    cloud = await startSimulatedCloud({ timeScale: 60 });
    client = new SimClient(cloud.url);
  });
  afterAll(() => cloud.close());

  it('sets up an app and a consented tenant over the control API', async () => {
    const { clientId } = await client.createApp({ secrets: [{ value: 'remote-secret' }] });
    const tenant = await client.createTenant({ seed: uniqueSeed(), users: 4 });
    await client.consent(tenant.tenantId, clientId, { roles: ['Files.Read.All'] });

    const token = await credential(cloud, tenant.tenantId, clientId, 'remote-secret').getToken(
      `${cloud.url}/.default`,
    );

    expect(jwtPayload(token.token)).toMatchObject({ tid: tenant.tenantId, roles: ['Files.Read.All'] });
    expect(await client.listUsers(tenant.tenantId)).toEqual(await cloud.listUsers(tenant.tenantId));
  });

  it('returns the same environment, drives and statistics as the in-process simulator', async () => {
    const tenant = await client.createTenant({ seed: uniqueSeed(), users: 6 });
    const { clientId } = await client.createApp({ secrets: [{ value: 'x' }] });

    expect(await client.env()).toEqual(await cloud.env());
    expect(await client.drives(tenant.tenantId)).toEqual(await cloud.drives(tenant.tenantId));
    expect(await client.throttleStats(tenant.tenantId, clientId)).toEqual(
      await cloud.throttleStats(tenant.tenantId, clientId),
    );
  });

  it('changes drives, licenses, secrets and throttles remotely', async () => {
    const tenant = await client.createTenant({
      seed: uniqueSeed(),
      users: 3,
      unlicensedShare: 0,
      withoutDriveShare: 0,
      itemsPerUser: 2,
    });
    const [user] = await client.listUsers(tenant.tenantId);
    const added = await client.addItem(tenant.tenantId, user!.id, { name: 'remote.txt', size: 12 });
    await client.renameItem(tenant.tenantId, user!.id, added.id, 'remote renamed.txt');
    await client.setThrottle(tenant.tenantId, { budgetPerWindow: 77 });
    const { version } = await client.setVaultSecret('remote-secret-name', 'v1', {
      contentType: 'text/plain',
    });
    await client.deleteVaultSecret('remote-secret-name');

    const items = (await client.drives(tenant.tenantId))[user!.id] ?? [];

    expect(items.map((item) => item.name)).toContain('remote renamed.txt');
    expect(
      (await client.throttleStats(tenant.tenantId, '00000000-0000-4000-8000-000000000000')).budgetPerWindow,
    ).toBe(77);
    expect(version).toMatch(/^[0-9a-f]{32}$/);
  });

  it('moves, replaces and reads whole drives and expires delta tokens remotely', async () => {
    const tenant = await client.createTenant({
      seed: uniqueSeed(),
      users: 2,
      unlicensedShare: 0,
      withoutDriveShare: 0,
      itemsPerUser: 2,
      nestedItemsPerFolder: [1, 2],
    });
    const [user] = await client.listUsers(tenant.tenantId);
    const folder = await client.addItem(tenant.tenantId, user!.id, {
      name: 'remote folder',
      folder: { childCount: 0 },
    });
    const inside = await client.addItem(tenant.tenantId, user!.id, {
      name: 'inside.txt',
      parentId: folder.id,
    });
    const loose = await client.addItem(tenant.tenantId, user!.id, { name: 'loose.txt' });
    await client.moveItem(tenant.tenantId, user!.id, loose.id, folder.id);
    await client.expireDeltaTokens(tenant.tenantId, user!.id);
    await client.expireDeltaTokens(tenant.tenantId);

    const tree = await client.driveTree(tenant.tenantId, user!.id);
    const local = await cloud.driveTree(tenant.tenantId, user!.id);
    const replaced = await client.replaceDrive(tenant.tenantId, user!.id);

    expect(tree).toEqual(local);
    expect(tree.items.filter((item) => item.parentId === folder.id).map((item) => item.id)).toEqual([
      inside.id,
      loose.id,
    ]);
    expect(replaced.driveId).not.toBe(tree.driveId);
    expect(await client.driveTree(tenant.tenantId, user!.id)).toEqual(
      await cloud.driveTree(tenant.tenantId, user!.id),
    );
    await expect(client.moveItem(tenant.tenantId, user!.id, folder.id, 'root')).rejects.toMatchObject({
      status: 404,
    });
    await expect(client.driveTree(tenant.tenantId, 'nobody')).rejects.toMatchObject({ status: 404 });
  });

  it('manages certificates, federated credentials and managed identities remotely, as in-process', async () => {
    const certificate = createAppCertificate({});
    const { clientId } = await client.createApp({});
    const tenant = await client.createTenant({ seed: uniqueSeed(), users: 2 });
    await client.consent(tenant.tenantId, clientId);
    await client.addAppCertificate(clientId, { certificatePem: certificate.certificatePem });
    const identity = await client.createManagedIdentity({});
    const federated = {
      name: 'remote',
      issuer: `${cloud.url}/${identity.tenantId}/v2.0`,
      subject: identity.principalId,
      audiences: ['api://AzureADTokenExchange'],
    };
    await client.addFederatedCredential(clientId, federated);
    const certificateToken = () =>
      new ClientCertificateCredential(
        tenant.tenantId,
        clientId,
        { certificate: certificate.pem },
        { authorityHost: cloud.url, disableInstanceDiscovery: true },
      ).getToken(`${cloud.url}/.default`);

    const issued = await certificateToken();
    await client.revokeAppCertificate(clientId, certificate.thumbprintSha256Hex);
    const revoked = await certificateToken().catch((error: Error) => error.message);
    await client.removeAppCertificate(clientId, certificate.thumbprintSha256Hex);
    const removed = await certificateToken().catch((error: Error) => error.message);
    const duplicate = await client
      .addFederatedCredential(clientId, federated)
      .catch((error: unknown) => error);
    await client.removeFederatedCredential(clientId, 'remote');
    await client.setManagedIdentityEndpoint('down', identity.clientId);
    await cloud.setManagedIdentityEndpoint('up');

    expect(jwtPayload(issued.token)).toMatchObject({ tid: tenant.tenantId, appid: clientId });
    expect(revoked).toMatch(/AADSTS7000214:/);
    expect(removed).toMatch(/AADSTS700027:/);
    expect(duplicate).toMatchObject({ name: 'SimError', status: 409 });
    expect(identity.tenantId).toBe((await client.env()).AZURE_TENANT_ID);
    expect(await client.managedIdentityEnv()).toEqual(await cloud.managedIdentityEnv());
    await expect(client.removeFederatedCredential(clientId, 'remote')).rejects.toMatchObject({ status: 404 });
    await expect(client.createManagedIdentity({ clientId: identity.clientId })).rejects.toMatchObject({
      status: 409,
    });
  });

  it('refuses a 21st federated credential, as Entra ID does', async () => {
    const { clientId } = await client.createApp({});
    const credential = (index: number) => ({
      name: `credential-${index}`,
      issuer: 'https://issuer.example.test',
      subject: `subject-${index}`,
      audiences: ['api://AzureADTokenExchange'],
    });
    for (let index = 0; index < 20; index++) await client.addFederatedCredential(clientId, credential(index));

    await expect(client.addFederatedCredential(clientId, credential(20))).rejects.toMatchObject({
      status: 400,
      message: 'An app has at most 20 federated credentials',
    });
    await expect(cloud.addFederatedCredential(clientId, credential(21))).rejects.toMatchObject({
      status: 400,
    });
  });

  it('throws the simulator refusal as a SimError with its status and message', async () => {
    const error = (await client.listUsers('no-such-tenant').catch((e: unknown) => e)) as SimError;

    expect(error).toBeInstanceOf(SimError);
    expect(error.status).toBe(404);
    expect(error.message).toBe('No tenant no-such-tenant');
  });

  it('reads the request log with filters', async () => {
    await fetch(`${cloud.url}/organizations/v2.0/.well-known/openid-configuration`);
    await fetch(`${cloud.url}/nowhere.test/v2.0/.well-known/openid-configuration`);

    const log = await client.requestLog({ service: 'openid', since: 0 });

    expect(log.slice(-2).map((entry) => entry.status)).toEqual([200, 400]);
    expect(await client.requestLog({ service: 'openid', since: Date.now() + 60_000 })).toEqual([]);
  });
});

// Drive Crawler on Azure Functions Flex Consumption, with no storage keys and no secrets in settings or outputs:
// the app reaches storage, Key Vault and Application Insights as one user-assigned managed identity. The app
// registration's credential (appCredential) is a client secret or a certificate in Key Vault, put there by the
// operator, or no secret at all: a second user-assigned identity that the app registration trusts as a federated
// credential. Each role is as narrow as the Functions host allows, Key Vault and storage log every access to Log
// Analytics, and deleted blobs and containers stay restorable: docs/deploy.md gives the reasons ("Security
// baseline") and each kind of credential ("The app's credential").
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; part of the unique token that names every resource.')
param environmentName string

@minLength(1)
@description('Region of every resource; it must offer the Flex Consumption plan.')
param location string = resourceGroup().location

@description('Application (client) ID of the multi-tenant app registration. Empty on the first deployment, before the app is registered: the consent routes and the crawl refuse to run until it is set.')
param appClientId string = ''

@allowed(['secret', 'certificate', 'managed-identity'])
@description('APP_CREDENTIAL, the app registration\'s credential in the customer tenants. secret: a client secret in the vault; certificate: a certificate in the vault (PEM content type); managed-identity: a user-assigned identity of its own, trusted by the app registration as a federated credential, and no vault.')
param appCredential string = 'secret'

@description('Name of the client secret in the vault (appCredential secret).')
param appClientSecretName string = 'graph-app-client-secret'

@description('Name of the certificate in the vault (appCredential certificate); its policy\'s content type must be application/x-pem-file.')
param appCertificateName string = 'app-certificate'

@description('NCRONTAB (6 fields, UTC) of the crawl timer.')
param crawlSchedule string = '0 0 */6 * * *'

@allowed(['root', 'drive'])
@description('CRAWL_SCOPE: root (the children of each drive root) or drive (every item of each OneDrive); docs/delta.md.')
param crawlScope string = 'root'

@maxLength(64)
@description('The operator\'s company name, sent in every Graph request as User-Agent: ISV|<ISV_NAME>|DriveCrawler/<version>.')
param isvName string = 'DriveCrawler'

@description('Microsoft Graph root (change it for a sovereign cloud).')
param graphEndpoint string = 'https://graph.microsoft.com'

@description('Changes the Key Vault name. A deleted vault keeps its name for its retention days (purge protection forbids purging it), so a redeployment after `azd down` needs a new seed: azure.yaml\'s hooks renew it.')
param keyVaultNameSeed string = ''

@description('The ISV\'s own tenant, never onboarded as a customer: where the app registration lives. Defaults to the tenant of this deployment.')
param homeTenantId string = tenant().tenantId

@allowed(['invite', 'open'])
@description('invite: a customer onboards only through an invitation (POST /api/invitations); open: any admin who signs in may onboard their organization.')
param onboarding string = 'invite'

@minValue(1)
@maxValue(1000)
@description('Most instances the Flex Consumption plan may scale out to.')
param maximumInstanceCount int = 40

@description('Object ID of whoever deploys (azd sets it): gets Key Vault Secrets Officer (secret) or Key Vault Certificates Officer (certificate) on the vault and Storage Blob Data Contributor on the deployment container. Empty: no role for the deployer.')
param deployerPrincipalId string = ''

@allowed(['User', 'ServicePrincipal', 'Group'])
@description('Kind of principal deployerPrincipalId is.')
param deployerPrincipalType string = 'User'

@minValue(1)
@maxValue(365)
@description('Days a deleted or overwritten blob, or a deleted container, of the storage account can be restored.')
param storageSoftDeleteRetentionDays int = 7

// azd passes an unset environment value as an empty string: empty means the default.
var secretNameSetting = empty(appClientSecretName) ? 'graph-app-client-secret' : appClientSecretName
var certificateNameSetting = empty(appCertificateName) ? 'app-certificate' : appCertificateName
var crawlScheduleSetting = empty(crawlSchedule) ? '0 0 */6 * * *' : crawlSchedule
var isvNameSetting = empty(isvName) ? 'DriveCrawler' : isvName
var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var vaultToken = toLower(uniqueString(resourceToken, keyVaultNameSeed))
var tags = { 'azd-env-name': environmentName }

// The secret and certificate kinds read the vault; managed-identity does not, and gets no vault.
var readsVault = appCredential != 'managed-identity'
var usesFederatedIdentity = appCredential == 'managed-identity'

// The audience a managed identity's token must carry for Entra ID to exchange it, by the host of the cloud's login
// endpoint (AUTHORITY_HOST), as the app derives it ("Configure an application to trust a managed identity").
var tokenExchangeAudiences = {
  'login.microsoftonline.us': 'api://AzureADTokenExchangeUSGov'
  'login.chinacloudapi.cn': 'api://AzureADTokenExchangeChina'
}
var loginHost = toLower(split(environment().authentication.loginEndpoint, '/')[2])
var tokenExchangeAudience = tokenExchangeAudiences[?loginHost] ?? 'api://AzureADTokenExchange'

// The queues of src/storage/storage-clients.ts (QUEUES), each with the poison queue the host moves a message to
// after maxDequeueCount failures, and that poison queue's own (the poison queues have triggers too). The app's
// identity gets its queue role on these queues only: a queue added to the code must be added here.
var storageQueueNames = [
  'crawl-tenant'
  'crawl-tenant-poison'
  'crawl-tenant-poison-poison'
  'crawl-user-batch'
  'crawl-user-batch-poison'
  'crawl-user-batch-poison-poison'
]

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-func-${resourceToken}'
  location: location
  tags: tags
}

// appCredential managed-identity: the identity the app registration trusts as its federated credential, and nothing
// else. It is attached to the Function App (the app asks IDENTITY_ENDPOINT for its token) but is not the app's own
// identity: storage, Key Vault and Application Insights never see it, and it holds no role anywhere. Whoever can act
// as the Function App's own identity (a role on it, another resource it is attached to) thus cannot also act as the
// app in every customer tenant.
resource federatedIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = if (usesFederatedIdentity) {
  name: 'id-fic-${resourceToken}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    workspaceName: 'log-${resourceToken}'
    appInsightsName: 'appi-${resourceToken}'
    identityPrincipalId: identity.properties.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    tags: tags
    storageAccountName: 'st${resourceToken}'
    deploymentContainerName: 'app-package'
    queueNames: storageQueueNames
    softDeleteRetentionDays: storageSoftDeleteRetentionDays
    workspaceId: monitoring.outputs.workspaceId
    identityPrincipalId: identity.properties.principalId
    deployerPrincipalId: deployerPrincipalId
    deployerPrincipalType: deployerPrincipalType
  }
}

module keyVault 'modules/key-vault.bicep' = if (readsVault) {
  name: 'key-vault'
  params: {
    location: location
    tags: tags
    vaultName: 'kv-${take(vaultToken, 13)}'
    appCredential: appCredential == 'certificate' ? 'certificate' : 'secret'
    identityPrincipalId: identity.properties.principalId
    deployerPrincipalId: deployerPrincipalId
    deployerPrincipalType: deployerPrincipalType
    workspaceId: monitoring.outputs.workspaceId
  }
}

// RATE LIMIT IN FRONT OF THE APP: not deployed; this is where it goes (docs/deploy.md, "A rate limit in front of
// the consent routes"). The consent routes are anonymous, so a per-client limit belongs in front of the Function
// App, as a module beside this one:
//   - Azure Front Door (Standard or Premium) with a WAF policy whose custom rule of type RateLimitRule matches
//     /api/consent* and groups by SocketAddr (the client IP), the Function App as its origin; or
//   - API Management with a rate-limit-by-key policy keyed on context.Request.IpAddress.
// Then restrict the Function App's inbound traffic to it: siteConfig.ipSecurityRestrictions in function-app.bicep
// with the AzureFrontDoor.Backend service tag and an X-Azure-FDID header check (or API Management's addresses),
// and point CONSENT_REDIRECT_URI and the consent links at the front end's host name.
module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  params: {
    location: location
    tags: tags
    planName: 'plan-${resourceToken}'
    functionAppName: 'func-${resourceToken}'
    identityName: identity.name
    storageAccountName: storage.outputs.storageAccountName
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsName: monitoring.outputs.appInsightsName
    maximumInstanceCount: maximumInstanceCount
    appClientId: appClientId
    appCredential: appCredential
    keyVaultUrl: readsVault ? keyVault!.outputs.vaultUri : ''
    appClientSecretName: secretNameSetting
    appCertificateName: certificateNameSetting
    federatedIdentityName: usesFederatedIdentity ? federatedIdentity.name : ''
    crawlSchedule: crawlScheduleSetting
    crawlScope: crawlScope
    isvName: isvNameSetting
    graphEndpoint: graphEndpoint
    onboarding: onboarding
    homeTenantId: homeTenantId
  }
}

@description('Redirect URI to register on the app registration (platform "Web").')
output CONSENT_REDIRECT_URI string = functionApp.outputs.consentRedirectUri

@description('The consent landing page. Under ONBOARDING=invite, customers use the link POST /api/invitations answers.')
output CONSENT_LANDING_URL string = functionApp.outputs.consentLandingUrl

@description('Name of the Function App.')
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.functionAppName

@description('Name of the vault to put the client secret or the certificate in; empty for appCredential managed-identity, which has no vault.')
output AZURE_KEY_VAULT_NAME string = readsVault ? keyVault!.outputs.vaultName : ''

// appCredential managed-identity: what the app registration's federated credential names (docs/deploy.md); all
// empty for the other kinds. None of them is a secret.
@description('Client ID of the identity the app registration trusts (the app setting APP_FEDERATED_IDENTITY_CLIENT_ID).')
output APP_FEDERATED_IDENTITY_CLIENT_ID string = usesFederatedIdentity ? federatedIdentity!.properties.clientId : ''

@description('Principal (object) ID of that identity: the federated credential\'s subject.')
output APP_FEDERATED_IDENTITY_PRINCIPAL_ID string = usesFederatedIdentity ? federatedIdentity!.properties.principalId : ''

@description('The federated credential\'s issuer: the login endpoint of this cloud and the tenant the identity lives in.')
output APP_FEDERATED_IDENTITY_ISSUER string = usesFederatedIdentity ? '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0' : ''

@description('The federated credential\'s audience, the token-exchange audience of this cloud.')
output APP_FEDERATED_IDENTITY_AUDIENCE string = usesFederatedIdentity ? tokenExchangeAudience : ''

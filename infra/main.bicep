// Drive Crawler on Azure Functions Flex Consumption, with no storage keys and no secrets in settings or outputs:
// the app reaches storage, Key Vault and Application Insights as one user-assigned managed identity, and the only
// secret (the app registration's client secret) lives in Key Vault, put there by the operator. Each role is as
// narrow as the Functions host allows, Key Vault and storage log every access to Log Analytics, and deleted blobs
// and containers stay restorable: docs/deploy.md, "Security baseline", gives the reasons.
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

@description('Name of the client secret in the vault.')
param appClientSecretName string = 'graph-app-client-secret'

@description('NCRONTAB (6 fields, UTC) of the crawl timer.')
param crawlSchedule string = '0 0 */6 * * *'

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

@description('Object ID of whoever deploys (azd sets it): gets Key Vault Secrets Officer on the vault and Storage Blob Data Contributor on the deployment container. Empty: no role for the deployer.')
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
var crawlScheduleSetting = empty(crawlSchedule) ? '0 0 */6 * * *' : crawlSchedule
var isvNameSetting = empty(isvName) ? 'DriveCrawler' : isvName
var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var vaultToken = toLower(uniqueString(resourceToken, keyVaultNameSeed))
var tags = { 'azd-env-name': environmentName }

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

module keyVault 'modules/key-vault.bicep' = {
  name: 'key-vault'
  params: {
    location: location
    tags: tags
    vaultName: 'kv-${take(vaultToken, 13)}'
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
    keyVaultUrl: keyVault.outputs.vaultUri
    maximumInstanceCount: maximumInstanceCount
    appClientId: appClientId
    appClientSecretName: secretNameSetting
    crawlSchedule: crawlScheduleSetting
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

@description('Name of the vault to put the client secret in.')
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.vaultName

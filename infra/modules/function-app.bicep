// The Flex Consumption plan and the Function App (Node 22). The app runs as the user-assigned identity: the
// deployment package, AzureWebJobsStorage, Key Vault and Application Insights are all reached with its Entra
// tokens, so no setting holds a key or a secret. With appCredential managed-identity a second user-assigned
// identity is attached, used only as the app registration's federated credential.

param location string
param tags object
param planName string
param functionAppName string
param identityName string
param storageAccountName string
param deploymentContainerName string
param appInsightsName string
param maximumInstanceCount int
param appClientId string

@allowed(['secret', 'certificate', 'managed-identity'])
param appCredential string

@description('The vault\'s URI (secret and certificate); empty for managed-identity.')
param keyVaultUrl string

param appClientSecretName string
param appCertificateName string

@description('The identity the app registration trusts as its federated credential (managed-identity); empty for the other kinds.')
param federatedIdentityName string
param crawlSchedule string
@allowed(['root', 'drive'])
param crawlScope string
param isvName string
param graphEndpoint string
@allowed(['invite', 'open'])
param onboarding string
param homeTenantId string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: identityName
}

resource federatedIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = if (!empty(federatedIdentityName)) {
  name: federatedIdentityName
}

resource storageAccount 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-11-01' = {
  name: functionAppName
  location: location
  // azd finds the app to deploy the `api` service to by this tag.
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  // The app's own identity, and for managed-identity the federated credential's, attached so that the app can ask
  // IDENTITY_ENDPOINT for its token. With two attached, every user names its own: AZURE_CLIENT_ID,
  // AzureWebJobsStorage__clientId, the deployment storage and APPLICATIONINSIGHTS_AUTHENTICATION_STRING the app's,
  // and only APP_FEDERATED_IDENTITY_CLIENT_ID the other.
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: union(
      { '${identity.id}': {} },
      empty(federatedIdentityName) ? {} : { '${federatedIdentity.id}': {} }
    )
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageAccount.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

// Publishing with user names and passwords is off: azd and the Azure CLI deploy with Entra tokens.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// The consent routes live on the app's own host name; the settings are a child resource of the site so that they
// can read it without a circular reference. Flex Consumption takes the runtime from functionAppConfig and rejects
// FUNCTIONS_WORKER_RUNTIME.
var consentBaseUrl = 'https://${functionApp.properties.defaultHostName}/api/consent'

// APP_CREDENTIAL and only its kind's settings: the app refuses another kind's. The client ID is read only for
// managed-identity (the conditional's other branches never evaluate it).
var credentialSettings = appCredential == 'managed-identity'
  ? { APP_FEDERATED_IDENTITY_CLIENT_ID: federatedIdentity!.properties.clientId }
  : appCredential == 'certificate'
      ? { KEY_VAULT_URL: keyVaultUrl, APP_CERTIFICATE_NAME: appCertificateName }
      : { KEY_VAULT_URL: keyVaultUrl, APP_CLIENT_SECRET_NAME: appClientSecretName }

resource appSettings 'Microsoft.Web/sites/config@2024-11-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(credentialSettings, {
    APP_CLIENT_ID: appClientId
    APP_CREDENTIAL: appCredential
    CONSENT_REDIRECT_URI: '${consentBaseUrl}/callback'
    // Onboarding refuses the ISV's home tenant, where the app registration lives.
    HOME_TENANT_ID: homeTenantId
    ONBOARDING: onboarding
    AUTHORITY_HOST: environment().authentication.loginEndpoint
    GRAPH_ENDPOINT: graphEndpoint
    CRAWL_SCHEDULE: crawlSchedule
    CRAWL_SCOPE: crawlScope
    ISV_NAME: isvName
    // @azure/identity: the app's own credential is the user-assigned identity, and nothing else is tried.
    AZURE_TOKEN_CREDENTIALS: 'ManagedIdentityCredential'
    AZURE_CLIENT_ID: identity.properties.clientId
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identity.properties.clientId
    AzureWebJobsStorage__blobServiceUri: storageAccount.properties.primaryEndpoints.blob
    AzureWebJobsStorage__queueServiceUri: storageAccount.properties.primaryEndpoints.queue
    AzureWebJobsStorage__tableServiceUri: storageAccount.properties.primaryEndpoints.table
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
  })
}

output functionAppName string = functionApp.name
output consentRedirectUri string = '${consentBaseUrl}/callback'
output consentLandingUrl string = consentBaseUrl

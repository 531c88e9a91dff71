// Log Analytics and Application Insights with local (key) authentication off: telemetry is accepted only with an
// Entra token, which the app's identity gets through Monitoring Metrics Publisher. The workspace also receives the
// Key Vault audit events and the storage logs (diagnostic settings in key-vault.bicep and storage.bicep).

param location string
param tags object
param workspaceName string
param appInsightsName string

@description('Principal ID of the Function App\'s user-assigned identity.')
param identityPrincipalId string

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
    features: { disableLocalAuth: true }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

// Monitoring Metrics Publisher on the component only: lets the identity send telemetry, and read nothing. Local
// authentication is off, so both senders need it: the Functions host (invocations and logs, with
// APPLICATIONINSIGHTS_AUTHENTICATION_STRING) and the worker's Azure Monitor exporter (the crawl's metrics, with a
// ManagedIdentityCredential for the client ID that string names; docs/telemetry.md). Despite its name, the role
// publishes every kind of telemetry.
resource identityMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identityPrincipalId, '3913510d-42f4-4e42-8a64-420c390055eb')
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '3913510d-42f4-4e42-8a64-420c390055eb')
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output appInsightsName string = appInsights.name
output workspaceId string = workspace.id

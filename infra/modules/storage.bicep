// One storage account for the Functions host (leases, timers, keys), the app's tables and queues, and the Flex
// deployment package container. Shared keys are off, so only Entra identities with data roles can reach it. Blobs
// and containers are soft-deleted; every read, write and delete of blobs, queues and tables is logged to the Log
// Analytics workspace. docs/deploy.md ("Security baseline") gives the reason for each role.

param location string
param tags object
param storageAccountName string
param deploymentContainerName string

@description('Queues the app reads and writes, poison queues included; the app\'s identity gets a role on each.')
param queueNames string[]

@minValue(1)
@maxValue(365)
@description('Days a deleted blob or container can be restored.')
param softDeleteRetentionDays int

@description('Resource ID of the Log Analytics workspace that receives the storage logs.')
param workspaceId string

@description('Principal ID of the Function App\'s user-assigned identity.')
param identityPrincipalId string

@description('Object ID of the deployer; empty for none.')
param deployerPrincipalId string

param deployerPrincipalType string

resource storageAccount 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    // No hierarchical namespace: Storage Blob Data Owner's ACL and ownership rights have nothing to act on.
    isHnsEnabled: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

// Soft delete keeps a deleted or overwritten blob, and a deleted container, restorable for the retention days.
// Permanent delete stays off and there are no versions, so no data role (Storage Blob Data Owner included) can
// erase a soft-deleted blob before its days are up; only a control-plane role could change these settings.
resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' = {
  parent: storageAccount
  name: 'default'
  properties: {
    isVersioningEnabled: false
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
      allowPermanentDelete: false
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2024-01-01' = {
  parent: storageAccount
  name: 'default'
}

// Declared here so that the app's queue role can be scoped to each of them; the app's createIfNotExists and the
// host's move of a failed message to `<queue>-poison` find them already there.
resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2024-01-01' = [
  for name in queueNames: {
    parent: queueService
    name: name
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2024-01-01' = {
  parent: storageAccount
  name: 'default'
}

// Storage logs exist per service (the account itself has metrics only): reads, writes and deletes of blobs,
// queues and tables, with the caller's identity, go to the StorageBlobLogs, StorageQueueLogs and StorageTableLogs
// tables of the workspace, and the services' transaction metrics beside them.
var storageLogs = [
  { category: 'StorageRead', enabled: true }
  { category: 'StorageWrite', enabled: true }
  { category: 'StorageDelete', enabled: true }
]
var storageMetrics = [{ category: 'Transaction', enabled: true }]

resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: blobService
  properties: {
    workspaceId: workspaceId
    logs: storageLogs
    metrics: storageMetrics
  }
}

resource queueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: queueService
  properties: {
    workspaceId: workspaceId
    logs: storageLogs
    metrics: storageMetrics
  }
}

resource tableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: tableService
  properties: {
    workspaceId: workspaceId
    logs: storageLogs
    metrics: storageMetrics
  }
}

// Storage Blob Data Owner on the account: what Microsoft lists for identity-based AzureWebJobsStorage. The host
// creates its own containers (azure-webjobs-hosts for timer and singleton locks, azure-webjobs-secrets for the
// function keys), so the role cannot be scoped to a container; it also covers reading the deployment package.
resource identityBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, identityPrincipalId, 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Queue Data Contributor on each queue, not the account: the app sends to the crawl queues, the host's
// queue triggers read and delete messages and move failed ones to the poison queues.
resource identityQueueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (name, i) in queueNames: {
    name: guid(queues[i].id, identityPrincipalId, '974c5e8b-45b9-4653-ba55-5f855dd0fb88')
    scope: queues[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '974c5e8b-45b9-4653-ba55-5f855dd0fb88')
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

// Storage Table Data Contributor on the account: Tenants, DriveItems, CrawlRuns and the app's bookkeeping tables,
// and the host's diagnostic events, whose table (AzureFunctionsDiagnosticEvents<yyyyMM>) changes name every month.
resource identityTableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, identityPrincipalId, '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Blob Data Contributor on the deployment container only: the deployer can read and upload packages there,
// and nothing else in the account.
resource deployerPackageContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(deploymentContainer.id, deployerPrincipalId, 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
  scope: deploymentContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

output storageAccountName string = storageAccount.name
output deploymentContainerName string = deploymentContainer.name

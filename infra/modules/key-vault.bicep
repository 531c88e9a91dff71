// The vault for the app registration's client secret: access by Azure RBAC only (no access policies), soft delete
// and purge protection on, every access audited to the Log Analytics workspace. The app's identity may read
// secrets; the deployer may set them. docs/deploy.md ("Security baseline") gives the reason for each role.

param location string
param tags object
param vaultName string

@description('Principal ID of the Function App\'s user-assigned identity.')
param identityPrincipalId string

@description('Object ID of the deployer; empty for none.')
param deployerPrincipalId string

param deployerPrincipalType string

@description('Resource ID of the Log Analytics workspace that receives the vault\'s audit events.')
param workspaceId string

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: vaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

// Every request to the vault (who read or set which secret, from where, allowed or denied) goes to the workspace's
// AzureDiagnostics table as an AuditEvent, with the vault's metrics beside it.
resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [{ category: 'AuditEvent', enabled: true }]
    metrics: [{ category: 'AllMetrics', enabled: true }]
  }
}

// Key Vault Secrets User on the vault: the app reads its client secret, and nothing else of the vault. The vault
// holds that one secret; a role on the secret itself would need the secret to exist before the first deployment,
// which it cannot (the operator puts it in after).
resource identitySecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, '4633458b-17de-408a-b874-0445c86b69e6')
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6')
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Key Vault Secrets Officer: the deployer puts the client secret in (az keyvault secret set).
resource deployerSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(vault.id, deployerPrincipalId, 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7')
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7')
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

output vaultName string = vault.name
output vaultUri string = vault.properties.vaultUri

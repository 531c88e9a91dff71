// The vault for the app registration's credential, a client secret or a certificate: access by Azure RBAC only (no
// access policies), soft delete and purge protection on, every access audited to the Log Analytics workspace. The
// app's identity may read secrets (a certificate's key and chain are its secret); the deployer may set the secret
// or create the certificate. docs/deploy.md ("Security baseline") gives the reason for each role.

param location string
param tags object
param vaultName string

@allowed(['secret', 'certificate'])
@description('What the vault holds for the app: its client secret, or its certificate.')
param appCredential string

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

// Key Vault Secrets User on the vault: the app reads its client secret, or its certificate's secret (the key and
// chain, GET /secrets/{certificate name}), and nothing else of the vault: no keys, no certificate operations, no
// writes. The vault holds that one credential. A role on the secret itself (scope: an `existing` vaults/secrets of
// that name) would be narrower and compiles, but the secret or certificate cannot exist when the template first
// runs, since this deployment creates the vault and the operator puts the credential in after. Azure does not
// document that a role assignment may be created on a Key Vault secret that does not exist yet; if it refused, the
// first deployment would fail. So the vault is the scope, for the certificate as for the secret.
resource identitySecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, '4633458b-17de-408a-b874-0445c86b69e6')
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6')
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Key Vault Secrets Officer (secret): the deployer puts the client secret in (az keyvault secret set).
resource deployerSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId) && appCredential == 'secret') {
  name: guid(vault.id, deployerPrincipalId, 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7')
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7')
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

// Key Vault Certificates Officer (certificate): the deployer creates the certificate and its new versions (az
// keyvault certificate create), and Key Vault makes the key and the secret behind it. It does not read the secret
// or the key, so the deployer never holds the private key.
resource deployerCertificatesOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId) && appCredential == 'certificate') {
  name: guid(vault.id, deployerPrincipalId, 'a4417e6f-fecd-4de8-b567-7b0420556985')
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'a4417e6f-fecd-4de8-b567-7b0420556985')
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

output vaultName string = vault.name
output vaultUri string = vault.properties.vaultUri

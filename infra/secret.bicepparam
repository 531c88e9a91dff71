// APP_CREDENTIAL=secret, the default: the app registration's client secret, which the operator puts into the
// vault (docs/deploy.md, "Secret").
// For a deployment with the Azure CLI (az deployment group create --parameters infra/<kind>.bicepparam); azd uses
// main.parameters.json. The values come from the environment, under the names azd gives them; AZURE_ENV_NAME is
// required. The infra tests compile this file.
using 'main.bicep'

param environmentName = readEnvironmentVariable('AZURE_ENV_NAME')
param appClientId = readEnvironmentVariable('APP_CLIENT_ID', '')
param isvName = readEnvironmentVariable('ISV_NAME', '')
param onboarding = readEnvironmentVariable('ONBOARDING', 'invite')
param deployerPrincipalId = readEnvironmentVariable('AZURE_PRINCIPAL_ID', '')
param deployerPrincipalType = readEnvironmentVariable('AZURE_PRINCIPAL_TYPE', 'User')
param keyVaultNameSeed = readEnvironmentVariable('KEY_VAULT_NAME_SEED', '')

param appCredential = 'secret'
param appClientSecretName = readEnvironmentVariable('APP_CLIENT_SECRET_NAME', '')

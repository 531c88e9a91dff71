# azd hook (Windows): the same as key-vault-name-seed.sh.
param([ValidateSet('ensure', 'renew')][string]$Mode = 'ensure')
$ErrorActionPreference = 'Stop'
$seed = -join ((1..8) | ForEach-Object { '{0:x}' -f (Get-Random -Maximum 16) })
if ($Mode -eq 'renew') {
  azd env set KEY_VAULT_NAME_SEED $seed
  Write-Output 'KEY_VAULT_NAME_SEED renewed: the next provision creates a new vault; put the client secret into it again.'
} elseif (-not $env:KEY_VAULT_NAME_SEED) {
  azd env set KEY_VAULT_NAME_SEED $seed
}

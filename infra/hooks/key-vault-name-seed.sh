#!/bin/sh
# azd hook: keeps KEY_VAULT_NAME_SEED in the azd environment, which main.bicep mixes into the Key Vault name.
#   ensure (preprovision): makes a seed if the environment has none, so every provision of it names the same vault.
#   renew (postdown): a deleted vault keeps its name while purge protection holds it, so the next `azd up` of this
#                     environment needs a new name.
set -eu
seed="$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
case "${1:-ensure}" in
  ensure)
    if [ -z "${KEY_VAULT_NAME_SEED:-}" ]; then
      azd env set KEY_VAULT_NAME_SEED "$seed"
    fi
    ;;
  renew)
    azd env set KEY_VAULT_NAME_SEED "$seed"
    echo "KEY_VAULT_NAME_SEED renewed: the next provision creates a new vault; put the client secret into it again."
    ;;
  *)
    echo "usage: $0 [ensure|renew]" >&2
    exit 2
    ;;
esac

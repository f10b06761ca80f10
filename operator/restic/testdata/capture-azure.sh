#!/usr/bin/env bash
# Captures restic's answers from the Azure backend (Azurite in the local cluster): bad signature,
# expired SAS, read-only SAS asked to write, missing container. Needs a running cluster:
#   make up && . .local/env && bash operator/restic/testdata/capture-azure.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${AZURE_ACCOUNT_KEY:?source the local cluster env first (. .local/env)}"
export RESTIC_PASSWORD=fixture-password
mint() { node "$here/mint-sas.ts" "$@"; }
c="fixtures-$RANDOM"
rw=$(mint "$c" racwdl 3600 create)
ro=$(mint "$c" rl 3600)
expired=$(mint "$c" racwdl -60)
missing=$(mint "nosuch-$c" racwdl 3600)
bad=$(sed 's/sig=[^&]*/sig=AAAAbadsignatureAAAA%3D/' <<<"$rw")
key=$AZURE_ACCOUNT_KEY
unset AZURE_ACCOUNT_KEY
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo data > "$work/f.txt"

AZURE_ACCOUNT_KEY=$key restic -r "azure:$c:/repo" init --json > /dev/null
AZURE_ACCOUNT_SAS=$rw restic -r "azure:$c:/repo" backup --json "$work/f.txt" > /dev/null
AZURE_ACCOUNT_SAS=$bad restic -r "azure:$c:/repo" snapshots --no-lock --json 2> "$here/azure-bad-signature.stderr" > /dev/null || true
AZURE_ACCOUNT_SAS=$expired restic -r "azure:$c:/repo" snapshots --no-lock --json 2> "$here/azure-expired.stderr" > /dev/null || true
AZURE_ACCOUNT_SAS=$ro restic -r "azure:$c:/repo" backup --json "$work/f.txt" 2> "$here/azure-read-only.stderr" > /dev/null || true
# A missing container is retried like a network error; stop after the first retries.
AZURE_ACCOUNT_SAS=$missing timeout -s INT 8 restic -r "azure:nosuch-$c:/repo" snapshots --no-lock --json 2> "$here/azure-container-not-found.stderr" > /dev/null || true
echo "fixtures written to $here"

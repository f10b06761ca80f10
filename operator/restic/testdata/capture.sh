#!/usr/bin/env bash
# Regenerates the restic output fixtures in this directory with the pinned restic, against a
# local-directory repository in a temporary directory. Run from anywhere:
#   bash operator/restic/testdata/capture.sh
# The unreadable-file fixture needs root (it drops to uid 65534 so a chmod 000 file is unreadable);
# the network fixture waits ~20 s for restic's retries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
# shellcheck disable=SC1091
source "$root/e2e/tools/versions.env"
restic_src="$HOME/.cache/blobstash/tools/restic-$RESTIC_VERSION/bin/restic"
work=$(mktemp -d)
trap 'chmod -R u+rwX "$work" 2>/dev/null; rm -rf "$work"' EXIT
# A world-executable copy, so the unprivileged run can start it.
cp "$restic_src" "$work/restic" && chmod 755 "$work/restic"
R="$work/restic"
export RESTIC_PASSWORD=fixture-password RESTIC_PROGRESS_FPS=20 RESTIC_CACHE_DIR="$work/cache"
cd "$work"

mkdir -p src/a/b
echo hello > src/a/x.txt
head -c 3000000 /dev/urandom > src/a/b/big.bin
: > src/empty
ln -s a/x.txt src/link
printf 'ünï' > "src/ünïcode.txt"
echo skip > src/a/skip.log

"$R" -r ./repo init --json > "$here/init.json"
"$R" -r ./repo init --json 2> "$here/init-exists.stderr" > /dev/null || true
"$R" -r ./nope snapshots --json 2> "$here/no-repository.stderr" > /dev/null || true
RESTIC_PASSWORD=wrong "$R" -r ./repo snapshots --json 2> "$here/wrong-password.stderr" > /dev/null || true

(cd src && "$R" -r ../repo backup --json --host host-0 --tag demo/nightly --group-by host,tags --exclude '*.log' -- . > "$here/backup-first.jsonl")
echo more >> src/a/x.txt
(cd src && "$R" -r ../repo backup --json --host host-0 --tag demo/nightly --group-by host,tags -- . missing > "$here/backup-missing-path.jsonl" 2> "$here/backup-missing-path.stderr") || true
(cd src && "$R" -r ../repo backup --json --host host-0 --tag demo/nightly --group-by host,tags -- missing > /dev/null 2> "$here/backup-all-missing.stderr") || true
mkdir empty && (cd empty && "$R" -r ../repo backup --json --host host-0 --tag demo/nightly --group-by host,tags -- . > /dev/null 2> "$here/backup-empty.stderr") || true

if [ "$(id -u)" = 0 ]; then
  echo secret > src/a/unreadable.txt && chmod 000 src/a/unreadable.txt
  mkdir -p cache-nobody && chmod -R a+rwX repo cache-nobody && chmod a+rx "$work" src src/a src/a/b
  (cd src && setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$work" RESTIC_CACHE_DIR="$work/cache-nobody" \
    "$R" -r ../repo backup --json --host host-0 --tag demo/nightly --group-by host,tags -- . \
    > "$here/backup-partial.jsonl" 2> "$here/backup-partial.stderr") || true
  chmod 644 src/a/unreadable.txt
fi

mkdir -p big && head -c 600000000 /dev/urandom > big/huge.bin
(cd big && RESTIC_PROGRESS_FPS=2 "$R" -r ../repo backup --json --host host-0 --tag demo/big --group-by host,tags -- . > "$here/backup-progress.jsonl")
rm -rf big

"$R" -r ./repo snapshots --json --no-lock > "$here/snapshots.json"
"$R" -r ./repo snapshots --json --no-lock deadbeef > "$here/snapshots-missing.json" 2> "$here/snapshots-missing.stderr"
"$R" -r ./repo stats --mode raw-data --json --no-lock > "$here/stats-raw-data.json"
"$R" -r ./repo forget --json --host host-0 --tag demo/nightly --group-by host,tags --keep-last 1 --prune --dry-run > "$here/forget-dry-run.json"
"$R" -r ./repo forget --json --host host-0 --tag demo/nightly --group-by host,tags --keep-last 1 --prune > "$here/forget-prune.json"
"$R" -r ./repo forget --json --host nobody --keep-last 1 > "$here/forget-nothing.json"

latest=$("$R" -r ./repo snapshots --json --no-lock --host host-0 --tag demo/nightly latest | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
"$R" -r ./repo --no-lock restore --json "$latest" --target ./out > "$here/restore.jsonl"
"$R" -r ./repo --no-lock restore --json "$latest" --target ./out2 --include /nothing-here > "$here/restore-nothing.jsonl"
"$R" -r ./repo --no-lock restore --json deadbeef --target ./out3 2> "$here/restore-missing.stderr" > /dev/null || true

# A lock held by a running backup makes an exclusive command fail with exit 11.
( sleep 6 | "$R" -r ./repo backup --json --stdin --stdin-filename held > /dev/null 2>&1 & )
sleep 2
"$R" -r ./repo forget --json --keep-last 1 2> "$here/locked.stderr" > /dev/null || true
sleep 5

# Network failure: restic retries, then gives up when interrupted.
HTTPS_PROXY=http://127.0.0.1:1 AZURE_ACCOUNT_NAME=devstoreaccount1 AZURE_ACCOUNT_SAS='sv=2025-11-05&sp=rl&sig=c2VjcmV0' \
  timeout -s INT 20 "$R" -r azure:backups:/demo snapshots --json 2> "$here/network-refused.stderr" > /dev/null || true

echo "fixtures written to $here"

#!/usr/bin/env bash
# npm run test:lab: the end-to-end tests on a fresh lab, always torn down afterwards.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
teardown() {
    status=$?
    echo "[test:lab] tearing the lab down"
    bash lab/down.sh || status=1
    exit "$status"
}
trap teardown EXIT
# A fresh lab: whatever an earlier run left goes first.
bash lab/down.sh
bash lab/hosts.sh up --managers 3 --workers 1
npx jest --config jest.lab.config.js --runInBand "$@"

#!/usr/bin/env bash
# npm run test:lab: the end-to-end tests on a fresh lab, always torn down afterwards. When a
# test fails, every node's logs and swarm state are exported first (kept in .lab/logs/), and
# the tail of each node's engine log is printed, so a failed CI run says what the nodes saw.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
teardown() {
    status=$?
    if [ "$status" -ne 0 ]; then
        dir="$root/.lab/logs/e2e-failure-$(date +%Y%m%dT%H%M%S)"
        echo "[test:lab] a test failed: exporting the nodes' logs to $dir"
        bash lab/hosts.sh logs "$dir" || true
        cp -r .lab/deploys "$dir/deploys" 2>/dev/null || true
        for log in "$dir"/*/dockerd.log; do
            [ -e "$log" ] || continue
            echo "[test:lab] --- $(basename "$(dirname "$log")"): tail of dockerd.log"
            tail -n 15 "$log" | cut -c1-300
        done
    fi
    echo "[test:lab] tearing the lab down"
    bash lab/down.sh || status=1
    exit "$status"
}
trap teardown EXIT
# A fresh lab: whatever an earlier run left goes first.
bash lab/down.sh
rm -rf .lab/deploys
bash lab/hosts.sh up --managers 3 --workers 1
npx tsx lab/images.ts --all
# --forceExit: a keep-alive socket of the tests' HTTP client must not hold CI after the last test.
# --verbose: each test's time in the log, so that a CI run says where the lab tier's time goes.
npx jest --config jest.lab.config.js --runInBand --forceExit --verbose "$@"

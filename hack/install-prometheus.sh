#!/usr/bin/env bash
# Make Prometheus 3 (and promtool from the same build) available for the local cluster
# and the tests.
#
# Both are built from the Go module github.com/prometheus/prometheus at the version
# pinned in hack/toolchain/prometheus/go.mod (tag remove_all_sd: file and HTTP service
# discovery stay), cached by version outside the repo like the control plane, and linked
# into .local/bin, which localcluster searches before PATH: a system Prometheus (e.g.
# Debian's 2.x package) is never used by the tests. Idempotent: a cached build takes
# no time.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bash "$here/toolchain/build.sh" prometheus
bin="$here/../.local/bin/prometheus"
echo "prometheus: $(readlink -f "$bin") ($("$bin" --version 2>&1 | head -n1))"

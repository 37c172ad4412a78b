#!/usr/bin/env bash
# Make a Prometheus server binary available for the local cluster and the tests.
#
# Only the binary matters: localcluster starts its own Prometheus on a loopback port
# with a config and storage of its own. So this installs Debian's `prometheus`
# package when no `prometheus` is on PATH, and makes sure the package does not leave
# a system service running (or enabled at boot) that would hold port 9090 or disk.
# Idempotent: when a binary is already there it prints it and returns at once.
set -euo pipefail

if bin=$(command -v prometheus 2>/dev/null); then
  echo "prometheus: $bin ($("$bin" --version 2>&1 | head -n1))"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-prometheus.sh: no prometheus on PATH and no apt-get here;" >&2
  echo "  install a prometheus server binary (2.x or 3.x) and put it on PATH." >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-prometheus.sh: need root or sudo" >&2; exit 1; }
  sudo=(sudo)
fi

# Keep the package's postinst from starting the service: a policy-rc.d that says
# "no" (exit 101) while we install, removed afterwards unless one was already there.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  own_policy=1
fi
cleanup() { if [ $own_policy = 1 ]; then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

echo "prometheus: installing Debian's prometheus package ..."
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null

# We only want the binary: make sure the packaged service neither runs nor starts at boot.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  "${sudo[@]}" systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
if command -v update-rc.d >/dev/null 2>&1 && [ -e /etc/init.d/prometheus ]; then
  "${sudo[@]}" update-rc.d prometheus disable >/dev/null 2>&1 || true
  "${sudo[@]}" /etc/init.d/prometheus stop >/dev/null 2>&1 || true
fi

bin=$(command -v prometheus)
echo "prometheus: installed $bin ($("$bin" --version 2>&1 | head -n1))"

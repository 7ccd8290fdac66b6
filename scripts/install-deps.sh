#!/usr/bin/env bash
# Installs the system packages netft builds and tests with. Idempotent: only
# missing packages are fetched, so it is cheap to run before every build.
set -euo pipefail

packages=(
  libbpf-dev libxdp-dev libpcap-dev libmnl-dev libsodium-dev  # libraries CShims link
  libnftables-dev                                            # netft validate reads the host firewall through libnftables
  linux-libc-dev                                             # kernel UAPI headers for bpf/
  bpftool iproute2 nftables iputils-ping                     # what tests and operators run
  corosync                                                   # real cluster software for `netft lab --stack corosync`
  tshark                                                     # reads `netft capture` files with dist/netft.lua (tests)
  systemd                                                    # systemd-analyze verifies dist/netft.service (tests; never started)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "netft: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No package may start a host service (corosync's postinst would): the lab
  # runs corosync itself, inside its namespaces. policy-rc.d 101 forbids it.
  guard=/usr/sbin/policy-rc.d
  [ -e "$guard" ] && had_guard=1 || { printf '#!/bin/sh\nexit 101\n' > "$guard"; chmod +x "$guard"; }
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -n "${had_guard:-}" ] || rm -f "$guard"
fi

# bpftool on Debian 12 lives in /usr/sbin; bpffs must be mounted for pins.
if ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf
fi

#!/usr/bin/env bash
# Installs netft on this machine (root): the system packages it needs, the
# release binary on the PATH, the systemd unit and an example configuration.
# Starts nothing. PREFIX (default /usr/local) and SYSCONFDIR (default /etc)
# move it; running it again upgrades in place and keeps /etc/netft/netft.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${PREFIX:-/usr/local}
sysconf=${SYSCONFDIR:-/etc}
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (it writes $prefix/bin, $sysconf and the unit directory)" >&2; exit 1; }
bash scripts/install-deps.sh
swift build -c release --product netft
bin=$(swift build -c release --show-bin-path)/netft
install -D -m 0755 "$bin" "$prefix/bin/netft"
install -D -m 0644 dist/netft.service "$prefix/lib/systemd/system/netft.service"
sed -i "s|/usr/local/|$prefix/|g; s|/etc/netft/|$sysconf/netft/|g" "$prefix/lib/systemd/system/netft.service"
install -d -m 0700 "$sysconf/netft"
install -m 0644 dist/netft.yaml "$sysconf/netft/netft.yaml.example"
install -D -m 0644 README.md "$prefix/share/doc/netft/README.md"
install -D -m 0644 dist/netft.lua "$prefix/share/netft/netft.lua"   # the Wireshark/tshark dissector
echo "installed $("$prefix/bin/netft" --version) at $prefix/bin/netft"
echo "  unit:    $prefix/lib/systemd/system/netft.service (not enabled: systemctl enable --now netft)"
echo "  example: $sysconf/netft/netft.yaml.example (copy it to $sysconf/netft/netft.yaml and edit)"
echo "  capture dissector: $prefix/share/netft/netft.lua (tshark -X lua_script:$prefix/share/netft/netft.lua -r FILE)"

#!/usr/bin/env bash
# The silent-client experiment (robustness), against one netft binary: a kept
# Usage: bash scripts/silent-clients-experiment.sh PATH/TO/netft LABEL   (root; builds and removes its own lab)
# 2-node lab (fast profile), 20 clients connect to node1's control socket and
# say nothing for 5 s; count route downs node2 logs meanwhile.
set -u
BIN=$1; LABEL=$2
$BIN lab --nodes 2 --keep --scenario link-down > /dev/null 2>&1
REC=$(ls -t /run/netft/labs/*.json 2>/dev/null | head -1); [ -f /run/netft/lab.json ] && REC=/run/netft/lab.json
SOCK=$(python3 -c "import json;d=json.load(open('$REC'));print([n for n in d['nodes'] if n['name']=='node1'][0]['control_socket'])")
LOG2=$(python3 -c "import json;d=json.load(open('$REC'));print([n for n in d['nodes'] if n['name']=='node2'][0]['log'])")
LOG1=${LOG2%node2.log}node1.log
sleep 2
B=$(grep -c "Setting state to Down" $LOG2)
python3 - "$SOCK" <<'PY'
import socket, sys, time
held = []
refused = 0
for _ in range(20):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try: s.connect(sys.argv[1]); held.append(s)
    except OSError: refused += 1
t0 = time.time(); worst = 0; failed = 0
while time.time() - t0 < 5:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(10)
    a = time.time()
    try:
        s.connect(sys.argv[1]); s.sendall(b"status\n")
        while s.recv(65536): pass
    except OSError: failed += 1
    worst = max(worst, time.time() - a); s.close(); time.sleep(0.1)
print(f"{len(held)} silent clients held ({refused} refused); slowest status answer {worst*1000:.0f} ms, {failed} status requests failed")
PY
sleep 1
A=$(grep -c "Setting state to Down" $LOG2)
echo "$LABEL: route downs logged by node2 during 5 s of 20 silent control clients: $((A-B)); node1 watchdog lines: $(grep -c watchdog $LOG1)"
$BIN lab --down > /dev/null 2>&1

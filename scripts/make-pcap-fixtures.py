#!/usr/bin/env python3
"""Writes Tests/NetFTDataplaneTests/Fixtures/classifier-replay.pcap.

The frames are built here independently of the Swift test builder, so the
replay test cross-checks the classifier against a second construction. The
expected verdicts live in ClassifierPcapReplayTests.swift, one per frame in
the order written here. Run again only when the list changes."""
import struct, sys, os

MAGIC = 0x4E654654
MAC = bytes.fromhex("020000000002") + bytes.fromhex("020000000001")

def eth(ethertype, body, vlans=()):
    tags = b"".join(struct.pack("!HH", tpid, 10 + i) for i, tpid in enumerate(vlans))
    return MAC + tags + struct.pack("!H", ethertype) + body

def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload

def ipv4(proto, body, frag=0x4000, options=b""):
    ihl = 5 + len(options) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(options) + len(body), 1, frag, 64, proto, 0,
                      bytes([198, 18, 7, 1]), bytes([198, 18, 7, 2]))
    return hdr + options + body

def ipv6(nexthdr, body):
    src = bytes.fromhex("20010db8000000000000000000000001")
    dst = bytes.fromhex("20010db8000000000000000000000002")
    return struct.pack("!IHBB", 0x60000000, len(body), nexthdr, 64) + src + dst + body

def netft(version=3, size=48):  # the wire version (Wire.version, bpf/netft_wire.h)
    return struct.pack("!IB", MAGIC, version) + bytes(size - 5)

frames = [
    eth(0x0800, ipv4(17, udp(50000, 3343, netft()))),                       # 0 netft
    eth(0x86DD, ipv6(17, udp(50000, 3343, netft()))),                       # 1 netft v6
    eth(0x0800, ipv4(17, udp(50000, 53, b"\x12\x34" + bytes(30)))),         # 2 DNS
    eth(0x0806, bytes.fromhex("0001080006040001") + bytes(20)),             # 3 ARP
    eth(0x0800, ipv4(6, bytes(20))),                                        # 4 TCP
    eth(0x0800, ipv4(17, udp(50000, 3343, b"corosync?" + bytes(20)))),      # 5 no magic
    eth(0x0800, ipv4(17, udp(50000, 3343, netft()), frag=0x2000)),          # 6 first fragment
    eth(0x0800, ipv4(17, bytes(40), frag=0x0020)),                          # 7 later fragment
    eth(0x0800, ipv4(17, udp(50000, 3343, netft()), options=bytes([1]) * 8), vlans=(0x8100,)),  # 8 VLAN + options
    eth(0x86DD, ipv6(17, udp(50000, 3343, netft(version=9)))),              # 9 bad version
    eth(0x0800, ipv4(17, udp(50000, 3343, netft())), vlans=(0x88A8, 0x8100)),  # 10 QinQ
    eth(0x0800, ipv4(17, udp(50000, 3343, netft()))[:16]),                  # 11 truncated IPv4
    eth(0x86DD, ipv6(58, bytes(16))),                                       # 12 ICMPv6
]

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "NetFTDataplaneTests", "Fixtures", "classifier-replay.pcap")
with open(out, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # LINKTYPE_ETHERNET
    for i, frame in enumerate(frames):
        f.write(struct.pack("<IIII", 1700000000 + i, 0, len(frame), len(frame)))
        f.write(frame)
print(f"wrote {len(frames)} frames to {os.path.normpath(out)}", file=sys.stderr)

/* netft_wire.h: the ABI shared by the XDP classifier and user space.
 * Kept free of kernel-only headers so CShims (and through it Swift) can
 * include it. Every change here is a change of the on-wire or map ABI. */
#ifndef NETFT_WIRE_H
#define NETFT_WIRE_H

#include <linux/types.h>

/* First bytes of every netft frame after the UDP header (network order):
 * magic "NeFT" then the protocol version. docs/PROTOCOL.md has the rest. */
#define NETFT_MAGIC 0x4E654654u
#define NETFT_VERSION_MIN 3
#define NETFT_VERSION_MAX 3
#define NETFT_DEFAULT_PORT 3343
#define NETFT_XSKMAP_MAX 64
#define NETFT_IPV6_EXT_MAX 4
/* Frame types (byte 5) the classifier leaves to the kernel socket: heartbeats
 * and hellos keep their own queue, so a saturated AF_XDP ring cannot starve them. */
#define NETFT_TYPE_HEARTBEAT_REQUEST 1
#define NETFT_TYPE_HEARTBEAT_REPLY 2
#define NETFT_TYPE_HELLO 5

/* One counter per decision: every frame the classifier sees moves exactly
 * one field. Field order is the ABI; append only. */
struct netft_stats {
	__u64 steered;               /* redirected into the AF_XDP socket of its queue */
	__u64 no_socket;             /* netft frame, but no socket bound on that queue: passed */
	__u64 pass_not_ip;           /* ARP, LLDP, anything not IPv4/IPv6 */
	__u64 pass_not_udp;          /* IP but not UDP (TCP, ICMP, ...) */
	__u64 pass_other_port;       /* UDP to a port that is not netft's */
	__u64 pass_fragment;         /* IPv4 or IPv6 fragment: the kernel reassembles */
	__u64 pass_no_magic;         /* to netft's port without netft's magic */
	__u64 pass_bad_version;      /* netft magic, unsupported version */
	__u64 pass_ipv6_ext;         /* IPv6 extension chain not walked (too long, unknown, ESP) */
	__u64 pass_vlan_too_deep;    /* more than two VLAN tags */
	__u64 pass_bad_ip_header;    /* IPv4 IHL < 5 */
	__u64 pass_truncated_eth;
	__u64 pass_truncated_vlan;
	__u64 pass_truncated_ip;
	__u64 pass_truncated_udp;
	__u64 pass_truncated_netft;  /* to netft's port, too short for magic + version */
	__u64 pass_control;          /* heartbeat request/reply or hello: to the kernel's UDP socket */
	__u64 drop_unknown_source;   /* netft frame from an address not in `peers` (peer filter on): dropped */
	__u64 drop_over_budget;      /* control frame past its source's budget for this second: dropped */
};

#define NETFT_STATS_FIELDS (sizeof(struct netft_stats) / sizeof(__u64))

/* Written by user space before frames flow; zeroed fields mean defaults. */
struct netft_config {
	__u16 port;            /* UDP destination port, host order; 0 = NETFT_DEFAULT_PORT */
	__u8 version_min;      /* 0 = NETFT_VERSION_MIN */
	__u8 version_max;      /* 0 = NETFT_VERSION_MAX */
	__u8 peer_filter;      /* 1: netft frames only from sources in `peers` (set once it is filled) */
	__u8 reserved[3];
	__u32 control_budget;  /* control frames per source per second; 0 = NETFT_CONTROL_BUDGET */
	__u32 reserved2;
};

/* The sources a node admits on one NIC: the remote addresses of its routes
 * there, in 16-byte form (IPv4 as ::ffff:a.b.c.d). The value is the source's
 * control-frame budget, spent by the classifier (approximately, across CPUs):
 * one noisy or spoofed source cannot crowd the others' heartbeats out of the
 * kernel socket. `bpftool map dump pinned <pin root>/<if>/peers` shows it. */
struct netft_peer_key {
	__u8 address[16];
};

struct netft_peer_budget {
	__u32 node_id;          /* the peer this address belongs to */
	__u32 spent;            /* control frames passed in the current second */
	__u64 window_start_ns;  /* bpf_ktime_get_ns() when that second began */
};

/* Remote addresses on one NIC: its network's peers (the heartbeat bench runs 2000). */
#define NETFT_PEERS_MAX 8192
/* Legitimate control traffic from one address is a request and a reply per
 * Delay (>= 25 ms) and a few hellos: 80 frames a second. */
#define NETFT_CONTROL_BUDGET 1000

/* The daemon's route table mirrored for operators: `bpftool map dump pinned
 * <pin root>/routes` prints each route by field name. Written by user space
 * only; the classifier never reads it. */
enum netft_route_state {
	NETFT_ROUTE_INITIALIZING = 0,
	NETFT_ROUTE_UP = 1,
	NETFT_ROUTE_DOWN = 2,
};

struct netft_route_info {
	__u32 id;
	__u32 peer_id;
	char peer[32];
	char network[32];
	char interface[16];
	char local[48];     /* real local address, text */
	char remote[48];    /* real remote address, text */
	enum netft_route_state state;
	__u32 active;       /* 1 if it carries the peer's traffic */
	__u64 rtt_ns;       /* smoothed round-trip time */
	__u32 loss_ppm;     /* heartbeats lost over the history, parts per million */
	__u32 priority;
	char reason[32];    /* why it is down, empty when up */
};

#define NETFT_ROUTES_MAX 16384

#endif

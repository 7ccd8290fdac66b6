// SPDX-License-Identifier: GPL-2.0
/* netft.bpf.c: the XDP classifier on every cluster NIC.
 * Steers UDP frames to netft's port that carry netft's magic and a supported
 * version into the AF_XDP socket of their RX queue; everything else goes to
 * the kernel untouched. Every decision moves one per-CPU counter. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "netft_wire.h"

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
#define IP_MF_ 0x2000
#define IP_OFFSET_ 0x1FFF

struct vlan_hdr_ {
	__be16 tci;
	__be16 encapsulated_proto;
};

struct ipv6_opt_hdr_ {
	__u8 nexthdr;
	__u8 hdrlen; /* in 8-octet units, not counting the first 8 */
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, NETFT_XSKMAP_MAX);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct netft_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct netft_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NETFT_PEERS_MAX);
	__type(key, struct netft_peer_key);
	__type(value, struct netft_peer_budget);
} peers SEC(".maps");

/* Not used by the program: created with it so the daemon's route table
 * has a pinned, BTF-described home (see netft_wire.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NETFT_ROUTES_MAX);
	__type(key, __u32);
	__type(value, struct netft_route_info);
} routes SEC(".maps");

#define COUNT(field)                                                 \
	do {                                                         \
		__u32 zero_ = 0;                                     \
		struct netft_stats *s_ = bpf_map_lookup_elem(&stats, &zero_); \
		if (s_)                                              \
			s_->field++;                                 \
	} while (0)

#define PASS(field)           \
	do {                  \
		COUNT(field); \
		return XDP_PASS; \
	} while (0)

/* Walks the IPv6 extension headers the kernel may put before UDP. Returns the
 * upper-layer protocol and advances *cursor, or -1 (counted by the caller). */
static __always_inline int ipv6_skip_ext(void **cursor, void *data_end, __u8 nexthdr, int *fragment)
{
#pragma unroll
	for (int i = 0; i < NETFT_IPV6_EXT_MAX; i++) {
		switch (nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS: {
			struct ipv6_opt_hdr_ *h = *cursor;
			if ((void *)(h + 1) > data_end)
				return -1;
			nexthdr = h->nexthdr;
			*cursor += (h->hdrlen + 1) * 8;
			break;
		}
		case IPPROTO_FRAGMENT:
			*fragment = 1;
			return nexthdr;
		default:
			return nexthdr;
		}
	}
	return -2; /* chain longer than we walk */
}

SEC("xdp")
int netft_classify(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct netft_config *cfg = bpf_map_lookup_elem(&config, &zero);
	__u16 port = NETFT_DEFAULT_PORT;
	__u8 vmin = NETFT_VERSION_MIN, vmax = NETFT_VERSION_MAX;
	if (cfg) {
		if (cfg->port)
			port = cfg->port;
		if (cfg->version_min)
			vmin = cfg->version_min;
		if (cfg->version_max)
			vmax = cfg->version_max;
	}

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		PASS(pass_truncated_eth);
	void *cursor = eth + 1;
	__u16 proto = bpf_ntohs(eth->h_proto);

#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != ETH_P_8021Q_ && proto != ETH_P_8021AD_)
			break;
		struct vlan_hdr_ *vlan = cursor;
		if ((void *)(vlan + 1) > data_end)
			PASS(pass_truncated_vlan);
		proto = bpf_ntohs(vlan->encapsulated_proto);
		cursor = vlan + 1;
	}
	if (proto == ETH_P_8021Q_ || proto == ETH_P_8021AD_)
		PASS(pass_vlan_too_deep);

	__u8 l4;
	struct netft_peer_key source = {};
	if (proto == ETH_P_IP) {
		struct iphdr *ip = cursor;
		if ((void *)(ip + 1) > data_end)
			PASS(pass_truncated_ip);
		source.address[10] = 0xff;
		source.address[11] = 0xff;
		__builtin_memcpy(&source.address[12], &ip->saddr, 4);
		if (ip->ihl < 5)
			PASS(pass_bad_ip_header);
		void *l4start = cursor + ip->ihl * 4;
		if (l4start > data_end)
			PASS(pass_truncated_ip);
		l4 = ip->protocol;
		if (l4 != IPPROTO_UDP)
			PASS(pass_not_udp);
		/* Any fragment, first included: the datagram is incomplete here and
		 * the kernel's reassembly owns it. netft sends with DF set. */
		if (ip->frag_off & bpf_htons(IP_MF_ | IP_OFFSET_))
			PASS(pass_fragment);
		cursor = l4start;
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = cursor;
		if ((void *)(ip6 + 1) > data_end)
			PASS(pass_truncated_ip);
		__builtin_memcpy(source.address, &ip6->saddr, 16);
		cursor = ip6 + 1;
		int fragment = 0;
		int next = ipv6_skip_ext(&cursor, data_end, ip6->nexthdr, &fragment);
		if (next == -1)
			PASS(pass_truncated_ip);
		if (next == -2)
			PASS(pass_ipv6_ext);
		if (fragment)
			PASS(pass_fragment);
		if (next != IPPROTO_UDP) {
			if (next == IPPROTO_TCP || next == IPPROTO_ICMPV6)
				PASS(pass_not_udp);
			PASS(pass_ipv6_ext);
		}
	} else {
		PASS(pass_not_ip);
	}

	struct udphdr *udp = cursor;
	if ((void *)(udp + 1) > data_end)
		PASS(pass_truncated_udp);
	if (bpf_ntohs(udp->dest) != port)
		PASS(pass_other_port);

	__u8 *netft = (void *)(udp + 1);
	if ((void *)(netft + 5) > data_end)
		PASS(pass_truncated_netft);
	__u32 magic = ((__u32)netft[0] << 24) | ((__u32)netft[1] << 16) | ((__u32)netft[2] << 8) | netft[3];
	if (magic != NETFT_MAGIC)
		PASS(pass_no_magic);
	if (netft[4] < vmin || netft[4] > vmax)
		PASS(pass_bad_version);
	int control = 0;
	if ((void *)(netft + 6) <= data_end) {
		__u8 type = netft[5];
		control = type == NETFT_TYPE_HEARTBEAT_REQUEST || type == NETFT_TYPE_HEARTBEAT_REPLY || type == NETFT_TYPE_HELLO;
	}
	/* Only the node's peers, each within its budget, reach the node at all:
	 * a flood from anyone else costs it nothing but this lookup. */
	if (cfg && cfg->peer_filter) {
		struct netft_peer_budget *peer = bpf_map_lookup_elem(&peers, &source);
		if (!peer) {
			COUNT(drop_unknown_source);
			return XDP_DROP;
		}
		if (control) {
			__u32 budget = cfg->control_budget ? cfg->control_budget : NETFT_CONTROL_BUDGET;
			__u64 now = bpf_ktime_get_ns();
			if (now - peer->window_start_ns >= 1000000000ull) {
				peer->window_start_ns = now;
				peer->spent = 0;
			}
			if (peer->spent >= budget) {
				COUNT(drop_over_budget);
				return XDP_DROP;
			}
			__sync_fetch_and_add(&peer->spent, 1);
		}
	}
	if (control)
		PASS(pass_control);

	int verdict = bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
	if (verdict == XDP_REDIRECT)
		COUNT(steered);
	else
		COUNT(no_socket);
	return verdict;
}

/* Attached to the far end of a veth so XDP_TX/redirected frames toward it are
 * not dropped (veth needs XDP on the peer to receive XDP frames). */
SEC("xdp")
int netft_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

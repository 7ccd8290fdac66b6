/* netft_shims.h: the C that Swift cannot call directly. Inline ring ops,
 * variadic ioctls, and a small handle around libbpf objects. No policy:
 * every function returns 0 / a count, or -errno, and decides nothing. */
#ifndef NETFT_SHIMS_H
#define NETFT_SHIMS_H

#include <stddef.h>
#include <stdint.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "../../../bpf/netft_wire.h"

/* ---- BPF object (libbpf) ---- */
struct netft_bpf;

/* Opens and loads an ELF object held in memory (the one embedded in the binary). */
int netft_bpf_open_load(const void *elf, size_t len, const char *name, struct netft_bpf **out);
void netft_bpf_close(struct netft_bpf *obj);
int netft_bpf_prog_fd(struct netft_bpf *obj, const char *prog_name);
int netft_bpf_map_fd(struct netft_bpf *obj, const char *map_name);
/* Pins a map or program at path (replacing a stale pin); unpins. */
int netft_bpf_pin_map(struct netft_bpf *obj, const char *map_name, const char *path);
int netft_bpf_pin_prog(struct netft_bpf *obj, const char *prog_name, const char *path);
int netft_bpf_unpin(const char *path);
/* Last libbpf diagnostic (verifier log lines included), for error messages. */
const char *netft_bpf_last_message(void);

int netft_xdp_attach(int ifindex, int prog_fd, uint32_t xdp_flags);
int netft_xdp_detach(int ifindex, uint32_t xdp_flags);
/* The id of the program attached in the given mode, 0 if none. */
int netft_xdp_query_id(int ifindex, uint32_t xdp_flags, uint32_t *prog_id);
/* Attaches through a BPF link (BPF_LINK_CREATE): refuses (-EBUSY/-EEXIST) when
 * any program is already on the NIC, and detaches when the returned fd closes,
 * so a killed process leaves nothing attached. Returns the link fd or -errno. */
int netft_xdp_attach_link(int ifindex, int prog_fd, uint32_t xdp_flags);
/* Whatever XDP program is on ifindex now: its id, attach mode (XDP_ATTACHED_*)
 * and name (BPF_OBJ_NAME_LEN bytes); *prog_id 0 if none. */
int netft_xdp_query_attached(int ifindex, uint32_t *prog_id, uint8_t *attach_mode, char *name);

/* Runs a program once over a frame through BPF_PROG_TEST_RUN. */
int netft_bpf_test_run(int prog_fd, const void *frame, uint32_t len, void *out, uint32_t *out_len,
		       uint32_t *retval);

/* Sums the per-CPU netft_stats of map_fd (key 0) into *sum. */
int netft_stats_read(int map_fd, struct netft_stats *sum);
int netft_config_write(int map_fd, const struct netft_config *config);
/* Admits one source address (a fresh budget) into a classifier's `peers` map. */
int netft_peers_admit(int map_fd, const struct netft_peer_key *key, uint32_t node_id);
/* Removes a source from the peer map (a reload took its routes away); absent is fine. */
int netft_peers_forget(int map_fd, const struct netft_peer_key *key);
int netft_xskmap_set(int map_fd, uint32_t queue, int xsk_fd);
int netft_xskmap_clear(int map_fd, uint32_t queue);
int netft_routes_update(int map_fd, const struct netft_route_info *info);
int netft_routes_delete(int map_fd, uint32_t id);

/* ---- AF_XDP socket over a UMEM (libxdp) ---- */
struct netft_xsk;

struct netft_xsk_options {
	uint32_t queue;
	uint32_t ring_size;    /* rx/tx ring entries (fill/completion: the UMEM's) */
	uint16_t bind_flags;   /* XDP_COPY, XDP_ZEROCOPY, XDP_USE_NEED_WAKEUP */
};

void netft_xsk_destroy(struct netft_xsk *x);
int netft_xsk_fd(const struct netft_xsk *x);

/* The node's UMEM, for one socket or several (one per NIC queue): frames move
 * freely between them. Sockets never load libxdp's own program: netft's
 * classifier feeds them through its XSKMAP. */
struct netft_umem;
int netft_umem_create(void *area, uint32_t frame_size, uint32_t frame_count, uint32_t ring_size,
		      struct netft_umem **out);
/* -EBUSY while sockets still use it. */
int netft_umem_destroy(struct netft_umem *u);
/* The first socket uses the UMEM's fill and completion rings; each later one gets its own. */
int netft_xsk_create_shared(const char *ifname, struct netft_umem *u, const struct netft_xsk_options *opt,
			    struct netft_xsk **out);

/* The kernel's drop counters for this socket (XDP_STATISTICS). */
int netft_xsk_statistics(const struct netft_xsk *x, struct xdp_statistics *out);

/* Free slots in the fill ring, at most n (libxdp's reserve is all or nothing). */
uint32_t netft_xsk_fill_free(struct netft_xsk *x, uint32_t n);
uint32_t netft_xsk_fill_reserve(struct netft_xsk *x, uint32_t n, uint32_t *idx);
void netft_xsk_fill_set(struct netft_xsk *x, uint32_t idx, uint64_t addr);
void netft_xsk_fill_submit(struct netft_xsk *x, uint32_t n);

uint32_t netft_xsk_rx_peek(struct netft_xsk *x, uint32_t max, uint32_t *idx);
const struct xdp_desc *netft_xsk_rx_desc(const struct netft_xsk *x, uint32_t idx);
void netft_xsk_rx_release(struct netft_xsk *x, uint32_t n);

uint32_t netft_xsk_tx_reserve(struct netft_xsk *x, uint32_t n, uint32_t *idx);
struct xdp_desc *netft_xsk_tx_desc(struct netft_xsk *x, uint32_t idx);
void netft_xsk_tx_submit(struct netft_xsk *x, uint32_t n);
/* Kicks the kernel to transmit; 0, or -errno (-EAGAIN: still busy, retry). */
int netft_xsk_tx_kick(struct netft_xsk *x);
/* Whether the kernel asks for a kick (need_wakeup); always 1 without the flag. */
int netft_xsk_tx_needs_wakeup(const struct netft_xsk *x);

uint32_t netft_xsk_comp_peek(struct netft_xsk *x, uint32_t max, uint32_t *idx);
uint64_t netft_xsk_comp_addr(const struct netft_xsk *x, uint32_t idx);
void netft_xsk_comp_release(struct netft_xsk *x, uint32_t n);

/* ---- TUN ---- */
/* Opens /dev/net/tun as name (may be a pattern like "netft%d") with IFF_* flags;
 * writes the kernel's chosen name to actual (IFNAMSIZ bytes). Returns fd or -errno. */
int netft_tun_open(const char *name, int flags, char *actual);
/* TUNSETOFFLOAD with TUN_F_* flags (checksum, TSO4/6, USO4/6). */
int netft_tun_set_offload(int fd, unsigned int flags);

/* ---- generic netlink (libmnl) ----
 * The XDP features a NIC's driver reports (NETDEV_XDP_ACT_* bits: 1 basic,
 * 2 redirect, 4 ndo_xmit, 8 AF_XDP zero-copy, ...), in the calling thread's
 * network namespace. -ENOENT/-EOPNOTSUPP: the kernel predates the netdev family. */
int netft_xdp_features(int ifindex, uint64_t *features);

/* ---- libnftables ----
 * The ruleset as JSON in *json (malloc'd: free it); on failure libnftables' reason in error. */
int netft_nft_ruleset_json(char **json, char *error, size_t error_len);

/* ---- libpcap ----
 * Behind an opaque handle: pcap/bpf.h (classic BPF) and linux/bpf.h both
 * define struct bpf_insn, so pcap's headers stay inside pcap.c. */
struct netft_pcap;
/* Opens a capture file for reading; on failure writes libpcap's reason to error. */
int netft_pcap_open_read(const char *path, char *error, size_t error_len, struct netft_pcap **out);
/* Next frame: 1 with data and len set, 0 at the end, -1 on error (see netft_pcap_error). */
int netft_pcap_next(struct netft_pcap *p, const uint8_t **data, uint32_t *len);
/* As netft_pcap_next, with the length on the wire and the capture time in microseconds since 1970. */
int netft_pcap_next_stamped(struct netft_pcap *p, const uint8_t **data, uint32_t *caplen, uint32_t *wirelen, uint64_t *usec);
/* The capture's link type (DLT_EN10MB, DLT_RAW, ...): pcapng needs it per interface. */
int netft_pcap_datalink(struct netft_pcap *p);
const char *netft_pcap_error(struct netft_pcap *p);
/* Captures live on ifname (in the calling thread's network namespace), non-blocking,
 * with an optional pcap filter expression. netft_pcap_next answers 0 when nothing waits. */
int netft_pcap_open_live(const char *ifname, const char *filter, char *error, size_t error_len, struct netft_pcap **out);
int netft_pcap_fd(struct netft_pcap *p);
void netft_pcap_close(struct netft_pcap *p);

/* ---- descriptors ---- */
/* A non-blocking eventfd (a wake-up counter another thread writes). */
int netft_eventfd(void);
/* The pid of the process at the other end of a Unix socket (SO_PEERCRED). */
int netft_peer_pid(int fd);

/* ---- AF_PACKET ---- */
/* Sends one whole Ethernet frame (destination MAC first) out of ifindex. */
int netft_packet_send(int ifindex, const void *frame, size_t len);
/* AF_PACKET on ifindex, every frame in with a virtio-net header, own frames ignored; fd or -errno. */
int netft_packet_open_relay(int ifindex, int receive_buffer_bytes);
/* Frames dropped in the socket since the last call (PACKET_STATISTICS), or -errno. */
long long netft_packet_take_drops(int fd);

/* ---- namespaces ---- */
/* Moves the calling thread into the network namespace open at fd. */
int netft_enter_netns(int fd);
/* Mounts bpffs at path unless it is already mounted there. */
int netft_bpffs_ensure(const char *path);

/* ---- rtnetlink (libmnl) ---- */
struct netft_nl;
struct netft_nl_link {
	int ifindex;
	char name[16];
	unsigned int flags;   /* IFF_UP, IFF_RUNNING, IFF_LOWER_UP, ... */
	unsigned int mtu;
	int operstate;        /* IF_OPER_* */
	uint8_t mac[6];
	unsigned int rx_queues; /* IFLA_NUM_RX_QUEUES (0: not reported) */
	uint64_t tx_dropped;    /* IFLA_STATS64: packets dropped on the way out (a TUN's queue full) */
};
struct netft_nl_addr {
	int ifindex;
	int family;           /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t prefix;
};
struct netft_nl_neigh {
	int ifindex;
	int family;
	uint16_t state;       /* NUD_* */
	uint8_t addr[16];
	uint8_t mac[6];
	int has_mac;
};
/* Where the kernel would send a packet to an address: out of oif, to gateway if it has one. */
struct netft_nl_nexthop {
	int family;
	int oif;
	int has_gateway;
	uint8_t gateway[16];
};
typedef void (*netft_nl_link_cb)(const struct netft_nl_link *link, int deleted, void *ctx);
typedef void (*netft_nl_addr_cb)(const struct netft_nl_addr *addr, int deleted, void *ctx);
typedef void (*netft_nl_neigh_cb)(const struct netft_nl_neigh *neigh, void *ctx);

int netft_nl_open(struct netft_nl **out);
/* A non-blocking socket subscribed to link and address changes. */
int netft_nl_open_monitor(struct netft_nl **out);
int netft_nl_fd(const struct netft_nl *nl);
void netft_nl_close(struct netft_nl *nl);
/* up: 1 up, 0 down, -1 unchanged; mtu 0: unchanged. */
int netft_nl_link_set(struct netft_nl *nl, int ifindex, int up, uint32_t mtu);
int netft_nl_link_del(struct netft_nl *nl, int ifindex);
int netft_nl_addr_add(struct netft_nl *nl, int ifindex, int family, const uint8_t *addr, uint8_t prefix);
int netft_nl_route_add(struct netft_nl *nl, int ifindex, int family, const uint8_t *dst, uint8_t prefix);
/* The kernel's route lookup (RTM_GETROUTE) for dst, out of oif if > 0. */
int netft_nl_route_get(struct netft_nl *nl, int family, const uint8_t *dst, int oif, struct netft_nl_nexthop *out);
int netft_nl_dump_links(struct netft_nl *nl, netft_nl_link_cb cb, void *ctx);
int netft_nl_dump_addrs(struct netft_nl *nl, netft_nl_addr_cb cb, void *ctx);
/* Adds a neighbour entry (NUD_* state) unless the kernel already has one (-EEXIST). */
int netft_nl_neigh_add(struct netft_nl *nl, int ifindex, int family, const uint8_t *addr, const uint8_t *mac, uint16_t state);
int netft_nl_dump_neighbours(struct netft_nl *nl, int family, netft_nl_neigh_cb cb, void *ctx);
/* Reads every pending notification (links, addresses, neighbours; a deleted
 * neighbour has state 0; any route change sets *routes_changed); returns how
 * many batches were read. -ENOBUFS: notifications were lost, dump again. */
int netft_nl_read_events(struct netft_nl *nl, netft_nl_link_cb link_cb, netft_nl_addr_cb addr_cb,
			 netft_nl_neigh_cb neigh_cb, int *routes_changed, void *ctx);

/* ---- UDP batches (recvmmsg/sendmmsg) over caller-owned buffers ---- */
struct sockaddr;
struct netft_udp_batch;
/* count messages; message i uses buffers + i * buffer_size. */
struct netft_udp_batch *netft_udp_batch_new(unsigned count, void *buffers, unsigned buffer_size);
void netft_udp_batch_free(struct netft_udp_batch *b);
/* Receives up to max datagrams without blocking; count, or -errno (-EAGAIN: none). */
int netft_udp_recv(int fd, struct netft_udp_batch *b, unsigned max);
uint32_t netft_udp_batch_len(const struct netft_udp_batch *b, unsigned i);
const struct sockaddr *netft_udp_batch_addr(const struct netft_udp_batch *b, unsigned i, uint32_t *len);
/* Prepares message i: len bytes of its buffer to the given address. */
void netft_udp_batch_set(struct netft_udp_batch *b, unsigned i, uint32_t len, const struct sockaddr *to, uint32_t tolen);
/* Sends messages start..start+n-1; how many went, or -errno. */
int netft_udp_send(int fd, struct netft_udp_batch *b, unsigned start, unsigned n);
/* UDP_GRO on a socket: recvmmsg may return runs of same-size datagrams as one message. */
int netft_udp_enable_gro(int fd);
/* The segment size of received message i (UDP_GRO), 0 for a single datagram. */
uint32_t netft_udp_batch_gso_size(const struct netft_udp_batch *b, unsigned i);
/* Sends entries [start, start+n) with UDP_SEGMENT where runs allow; returns entries sent or -errno. */
int netft_udp_send_gso(int fd, struct netft_udp_batch *b, unsigned start, unsigned n);
/* Messages (datagrams or GSO runs) the last netft_udp_send_gso sent. */
unsigned netft_udp_batch_messages_sent(const struct netft_udp_batch *b);
/* Every thread of the process keeps only the capabilities in `keep` (bit n:
 * capability n) in its effective, permitted and bounding sets, no ambient or
 * inheritable ones, and no_new_privs. 0, or -errno (-ETIMEDOUT: a thread did
 * not answer; -EPERM: a thread could not drop). */
int netft_capabilities_limit(uint64_t keep);

/* One IPv4 datagram to `to`, sent from local address `source_be` (network order); sendmsg's result. */
long netft_udp_sendto_from(int fd, const void *buf, size_t len, const struct sockaddr *to, uint32_t tolen, uint32_t source_be);

/* ---- signals ---- */
/* Clears the signal mask and dispositions a parent left, then blocks SIGINT, SIGTERM and SIGHUP
 * in the calling thread (call it before any other thread exists) and returns a signalfd for them. */
int netft_signals_open(void);
/* The next pending signal number, 0 if none, or -errno. */
int netft_signals_read(int fd);
/* A pidfd for pid: readable once the process exits. -errno (-ESRCH: not running). */
int netft_pidfd_open(int pid);

#endif

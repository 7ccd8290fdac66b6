/* rtnetlink through libmnl: links, addresses, routes, neighbours. Each call
 * builds one request and waits for the kernel's ACK; dumps and the monitor
 * hand parsed records to a callback. No policy here. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>
#include "netft_shims.h"

struct netft_nl {
	struct mnl_socket *sock;
	unsigned int seq;
	unsigned int portid;
};

static int open_socket(unsigned int groups, struct netft_nl **out)
{
	struct netft_nl *nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | (groups ? SOCK_NONBLOCK : 0));
	if (!nl->sock || mnl_socket_bind(nl->sock, groups, MNL_SOCKET_AUTOPID) < 0) {
		int err = -errno;
		if (nl->sock)
			mnl_socket_close(nl->sock);
		free(nl);
		return err;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (unsigned int)time(NULL);
	*out = nl;
	return 0;
}

int netft_nl_open(struct netft_nl **out)
{
	return open_socket(0, out);
}

int netft_nl_open_monitor(struct netft_nl **out)
{
	return open_socket(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_NEIGH | RTMGRP_IPV4_ROUTE |
				   RTMGRP_IPV6_ROUTE,
			   out);
}

int netft_nl_fd(const struct netft_nl *nl)
{
	return mnl_socket_get_fd(nl->sock);
}

void netft_nl_close(struct netft_nl *nl)
{
	if (!nl)
		return;
	mnl_socket_close(nl->sock);
	free(nl);
}

struct parse_ctx {
	netft_nl_link_cb link_cb;
	netft_nl_addr_cb addr_cb;
	netft_nl_neigh_cb neigh_cb;
	void *ctx;
	struct netft_nl_nexthop *nexthop; /* filled from a route lookup's answer */
	int *routes_changed;              /* set by a route notification */
};

static int parse_link(const struct nlmsghdr *nlh, struct parse_ctx *p)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct netft_nl_link link;
	memset(&link, 0, sizeof(link));
	link.ifindex = ifi->ifi_index;
	link.flags = ifi->ifi_flags;
	const struct nlattr *attr;
	mnl_attr_for_each(attr, nlh, sizeof(*ifi)) {
		switch (mnl_attr_get_type(attr)) {
		case IFLA_IFNAME:
			strncpy(link.name, mnl_attr_get_str(attr), sizeof(link.name) - 1);
			break;
		case IFLA_MTU:
			link.mtu = mnl_attr_get_u32(attr);
			break;
		case IFLA_OPERSTATE:
			link.operstate = mnl_attr_get_u8(attr);
			break;
		case IFLA_ADDRESS:
			if (mnl_attr_get_payload_len(attr) == 6)
				memcpy(link.mac, mnl_attr_get_payload(attr), 6);
			break;
		case IFLA_NUM_RX_QUEUES:
			link.rx_queues = mnl_attr_get_u32(attr);
			break;
		case IFLA_STATS64:
			if (mnl_attr_get_payload_len(attr) >= sizeof(struct rtnl_link_stats64)) {
				struct rtnl_link_stats64 stats;
				memcpy(&stats, mnl_attr_get_payload(attr), sizeof(stats));
				link.tx_dropped = stats.tx_dropped;
			}
			break;
		}
	}
	if (p->link_cb)
		p->link_cb(&link, nlh->nlmsg_type == RTM_DELLINK, p->ctx);
	return MNL_CB_OK;
}

static int parse_addr(const struct nlmsghdr *nlh, struct parse_ctx *p)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct netft_nl_addr addr;
	memset(&addr, 0, sizeof(addr));
	addr.ifindex = (int)ifa->ifa_index;
	addr.family = ifa->ifa_family;
	addr.prefix = ifa->ifa_prefixlen;
	int found = 0;
	const struct nlattr *attr;
	mnl_attr_for_each(attr, nlh, sizeof(*ifa)) {
		int type = mnl_attr_get_type(attr);
		/* IFA_LOCAL is the address on point-to-point links; IFA_ADDRESS elsewhere. */
		if ((type == IFA_LOCAL || (type == IFA_ADDRESS && !found)) && mnl_attr_get_payload_len(attr) <= 16) {
			memcpy(addr.addr, mnl_attr_get_payload(attr), mnl_attr_get_payload_len(attr));
			found = 1;
		}
	}
	if (found && p->addr_cb)
		p->addr_cb(&addr, nlh->nlmsg_type == RTM_DELADDR, p->ctx);
	return MNL_CB_OK;
}

static int parse_neigh(const struct nlmsghdr *nlh, struct parse_ctx *p)
{
	const struct ndmsg *nd = mnl_nlmsg_get_payload(nlh);
	struct netft_nl_neigh n;
	memset(&n, 0, sizeof(n));
	n.ifindex = nd->ndm_ifindex;
	n.family = nd->ndm_family;
	/* A deleted entry is reported as NUD_NONE: no usable address. */
	n.state = nlh->nlmsg_type == RTM_DELNEIGH ? 0 : nd->ndm_state;
	const struct nlattr *attr;
	mnl_attr_for_each(attr, nlh, sizeof(*nd)) {
		if (mnl_attr_get_type(attr) == NDA_DST && mnl_attr_get_payload_len(attr) <= 16)
			memcpy(n.addr, mnl_attr_get_payload(attr), mnl_attr_get_payload_len(attr));
		if (mnl_attr_get_type(attr) == NDA_LLADDR && mnl_attr_get_payload_len(attr) == 6) {
			memcpy(n.mac, mnl_attr_get_payload(attr), 6);
			n.has_mac = 1;
		}
	}
	if (p->neigh_cb)
		p->neigh_cb(&n, p->ctx);
	return MNL_CB_OK;
}

static int parse_route(const struct nlmsghdr *nlh, struct parse_ctx *p)
{
	if (p->routes_changed)
		*p->routes_changed = 1;
	if (!p->nexthop)
		return MNL_CB_OK;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct nlattr *attr;
	p->nexthop->family = rtm->rtm_family;
	mnl_attr_for_each(attr, nlh, sizeof(*rtm)) {
		switch (mnl_attr_get_type(attr)) {
		case RTA_OIF:
			p->nexthop->oif = (int)mnl_attr_get_u32(attr);
			break;
		case RTA_GATEWAY:
			if (mnl_attr_get_payload_len(attr) <= sizeof(p->nexthop->gateway)) {
				memcpy(p->nexthop->gateway, mnl_attr_get_payload(attr), mnl_attr_get_payload_len(attr));
				p->nexthop->has_gateway = 1;
			}
			break;
		}
	}
	return MNL_CB_OK;
}

static int dispatch(const struct nlmsghdr *nlh, void *data)
{
	struct parse_ctx *p = data;
	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		return parse_link(nlh, p);
	case RTM_NEWADDR:
	case RTM_DELADDR:
		return parse_addr(nlh, p);
	case RTM_NEWNEIGH:
	case RTM_DELNEIGH:
		return parse_neigh(nlh, p);
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		return parse_route(nlh, p);
	}
	return MNL_CB_OK;
}

/* Sends the request in buf and reads until the ACK or the dump's end. */
static int transact(struct netft_nl *nl, struct nlmsghdr *nlh, struct parse_ctx *p)
{
	nlh->nlmsg_seq = ++nl->seq;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	char buf[MNL_SOCKET_BUFFER_SIZE];
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		int r = mnl_cb_run(buf, (size_t)n, nl->seq, nl->portid, p ? dispatch : NULL, p);
		if (r < 0)
			return -errno;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

int netft_nl_link_set(struct netft_nl *nl, int ifindex, int up, uint32_t mtu)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	if (up >= 0) {
		ifi->ifi_change = IFF_UP;
		ifi->ifi_flags = up ? IFF_UP : 0;
	}
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return transact(nl, nlh, NULL);
}

int netft_nl_link_del(struct netft_nl *nl, int ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_DELLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return transact(nl, nlh, NULL);
}

static size_t family_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

int netft_nl_addr_add(struct netft_nl *nl, int ifindex, int family, const uint8_t *addr, uint8_t prefix)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (unsigned char)family;
	ifa->ifa_prefixlen = prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned)ifindex;
	mnl_attr_put(nlh, IFA_LOCAL, family_len(family), addr);
	mnl_attr_put(nlh, IFA_ADDRESS, family_len(family), addr);
	if (family == AF_INET6)
		mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD); /* a virtual adapter has no duplicates to detect */
	return transact(nl, nlh, NULL);
}

int netft_nl_route_add(struct netft_nl *nl, int ifindex, int family, const uint8_t *dst, uint8_t prefix)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (unsigned char)family;
	rtm->rtm_dst_len = prefix;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put(nlh, RTA_DST, family_len(family), dst);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	return transact(nl, nlh, NULL);
}

int netft_nl_route_get(struct netft_nl *nl, int family, const uint8_t *dst, int oif, struct netft_nl_nexthop *out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK; /* the answer, then the ACK ends the read */
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (unsigned char)family;
	rtm->rtm_dst_len = (unsigned char)(family_len(family) * 8);
	mnl_attr_put(nlh, RTA_DST, family_len(family), dst);
	if (oif > 0)
		mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)oif);
	memset(out, 0, sizeof(*out));
	struct parse_ctx p = {.nexthop = out};
	return transact(nl, nlh, &p);
}

int netft_nl_neigh_add(struct netft_nl *nl, int ifindex, int family, const uint8_t *addr, const uint8_t *mac, uint16_t state)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWNEIGH;
	/* EXCL: an entry the kernel already has is left alone. */
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
	struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	nd->ndm_family = (unsigned char)family;
	nd->ndm_ifindex = ifindex;
	nd->ndm_state = state;
	mnl_attr_put(nlh, NDA_DST, family_len(family), addr);
	mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	return transact(nl, nlh, NULL);
}

int netft_nl_dump_links(struct netft_nl *nl, netft_nl_link_cb cb, void *ctx)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	struct rtgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->rtgen_family = AF_UNSPEC;
	struct parse_ctx p = {.link_cb = cb, .ctx = ctx};
	return transact(nl, nlh, &p);
}

int netft_nl_dump_addrs(struct netft_nl *nl, netft_nl_addr_cb cb, void *ctx)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	struct rtgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->rtgen_family = AF_UNSPEC;
	struct parse_ctx p = {.addr_cb = cb, .ctx = ctx};
	return transact(nl, nlh, &p);
}

int netft_nl_dump_neighbours(struct netft_nl *nl, int family, netft_nl_neigh_cb cb, void *ctx)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETNEIGH;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	nd->ndm_family = (unsigned char)family;
	struct parse_ctx p = {.neigh_cb = cb, .ctx = ctx};
	return transact(nl, nlh, &p);
}

int netft_nl_read_events(struct netft_nl *nl, netft_nl_link_cb link_cb, netft_nl_addr_cb addr_cb,
			 netft_nl_neigh_cb neigh_cb, int *routes_changed, void *ctx)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct parse_ctx p = {
		.link_cb = link_cb, .addr_cb = addr_cb, .neigh_cb = neigh_cb, .routes_changed = routes_changed, .ctx = ctx};
	int handled = 0;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
		if (n < 0)
			return (errno == EAGAIN || errno == EWOULDBLOCK) ? handled : -errno;
		if (mnl_cb_run(buf, (size_t)n, 0, 0, dispatch, &p) < 0)
			return -errno;
		handled++;
	}
}

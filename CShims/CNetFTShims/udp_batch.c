/* recvmmsg/sendmmsg over caller-owned buffers: struct mmsghdr needs
 * _GNU_SOURCE, which Swift's Glibc module does not expose. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include "netft_shims.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
/* Segments one GSO send may carry (UDP_MAX_SEGMENTS on older kernels), and its bytes. */
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_BYTES 65000

/* Room for one int or u16 control message. */
#define CTRL_SIZE CMSG_SPACE(sizeof(int))

struct netft_udp_batch {
	unsigned count;
	unsigned buffer_size;
	struct mmsghdr *msgs;
	struct iovec *iov;
	struct sockaddr_storage *addrs;
	uint8_t *buffers;
	uint8_t *ctrl;           /* per message: UDP_GRO on receive, UDP_SEGMENT on send */
	struct mmsghdr *groups;  /* send: one message per run of same-size frames */
	unsigned groups_sent;    /* messages the last netft_udp_send_gso sent */
};

unsigned netft_udp_batch_messages_sent(const struct netft_udp_batch *b)
{
	return b->groups_sent;
}

struct netft_udp_batch *netft_udp_batch_new(unsigned count, void *buffers, unsigned buffer_size)
{
	struct netft_udp_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->count = count;
	b->buffer_size = buffer_size;
	b->buffers = buffers;
	b->msgs = calloc(count, sizeof(*b->msgs));
	b->iov = calloc(count, sizeof(*b->iov));
	b->addrs = calloc(count, sizeof(*b->addrs));
	b->ctrl = calloc(count, CTRL_SIZE);
	b->groups = calloc(count, sizeof(*b->groups));
	if (!b->msgs || !b->iov || !b->addrs || !b->ctrl || !b->groups) {
		netft_udp_batch_free(b);
		return NULL;
	}
	return b;
}

void netft_udp_batch_free(struct netft_udp_batch *b)
{
	if (!b)
		return;
	free(b->msgs);
	free(b->iov);
	free(b->addrs);
	free(b->ctrl);
	free(b->groups);
	free(b);
}

static void reset(struct netft_udp_batch *b, unsigned i, unsigned len)
{
	b->iov[i].iov_base = b->buffers + (size_t)i * b->buffer_size;
	b->iov[i].iov_len = len;
	memset(&b->msgs[i].msg_hdr, 0, sizeof(b->msgs[i].msg_hdr));
	b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
	b->msgs[i].msg_hdr.msg_iovlen = 1;
	b->msgs[i].msg_hdr.msg_name = &b->addrs[i];
	b->msgs[i].msg_hdr.msg_namelen = sizeof(b->addrs[i]);
	b->msgs[i].msg_len = 0;
}

int netft_udp_recv(int fd, struct netft_udp_batch *b, unsigned max)
{
	if (max > b->count)
		max = b->count;
	for (unsigned i = 0; i < max; i++) {
		reset(b, i, b->buffer_size);
		b->msgs[i].msg_hdr.msg_control = b->ctrl + (size_t)i * CTRL_SIZE;
		b->msgs[i].msg_hdr.msg_controllen = CTRL_SIZE;
	}
	int n = recvmmsg(fd, b->msgs, max, MSG_DONTWAIT, NULL);
	return n < 0 ? -errno : n;
}

int netft_udp_enable_gro(int fd)
{
	int one = 1;
	return setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) ? -errno : 0;
}

uint32_t netft_udp_batch_gso_size(const struct netft_udp_batch *b, unsigned i)
{
	const struct msghdr *m = &b->msgs[i].msg_hdr;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
			int size;
			memcpy(&size, CMSG_DATA(c), sizeof(size));
			return size > 0 ? (uint32_t)size : 0;
		}
	}
	return 0;
}

uint32_t netft_udp_batch_len(const struct netft_udp_batch *b, unsigned i)
{
	return b->msgs[i].msg_len;
}

const struct sockaddr *netft_udp_batch_addr(const struct netft_udp_batch *b, unsigned i, uint32_t *len)
{
	*len = b->msgs[i].msg_hdr.msg_namelen;
	return (const struct sockaddr *)&b->addrs[i];
}

void netft_udp_batch_set(struct netft_udp_batch *b, unsigned i, uint32_t len, const struct sockaddr *to, uint32_t tolen)
{
	reset(b, i, len);
	memcpy(&b->addrs[i], to, tolen);
	b->msgs[i].msg_hdr.msg_namelen = tolen;
}

int netft_udp_send(int fd, struct netft_udp_batch *b, unsigned start, unsigned n)
{
	unsigned sent = 0;
	while (sent < n) {
		int r = sendmmsg(fd, b->msgs + start + sent, n - sent, MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return sent ? (int)sent : -errno;
		}
		sent += (unsigned)r;
	}
	return (int)sent;
}

/* Entries [start, start+n) all leave by fd: consecutive ones to the same
 * address whose lengths are equal (the last of a run may be shorter) go as
 * one UDP_SEGMENT send, the kernel's GSO cutting them again on the wire.
 * Returns the entries sent, or -errno if none was. */
int netft_udp_send_gso(int fd, struct netft_udp_batch *b, unsigned start, unsigned n)
{
	unsigned groups = 0;
	unsigned first[64];
	unsigned i = start, end = start + n;
	while (i < end && groups < 64) {
		unsigned j = i + 1;
		size_t seg = b->iov[i].iov_len, bytes = seg;
		while (j < end && j - i < GSO_MAX_SEGMENTS && b->iov[j - 1].iov_len == seg && b->iov[j].iov_len <= seg &&
		       bytes + b->iov[j].iov_len <= GSO_MAX_BYTES && b->msgs[j].msg_hdr.msg_namelen == b->msgs[i].msg_hdr.msg_namelen &&
		       memcmp(&b->addrs[j], &b->addrs[i], b->msgs[i].msg_hdr.msg_namelen) == 0) {
			bytes += b->iov[j].iov_len;
			j++;
		}
		struct msghdr *m = &b->groups[groups].msg_hdr;
		memset(m, 0, sizeof(*m));
		m->msg_name = &b->addrs[i];
		m->msg_namelen = b->msgs[i].msg_hdr.msg_namelen;
		m->msg_iov = &b->iov[i];
		m->msg_iovlen = j - i;
		if (j - i > 1) {
			uint8_t *ctrl = b->ctrl + (size_t)groups * CTRL_SIZE;
			memset(ctrl, 0, CTRL_SIZE);
			m->msg_control = ctrl;
			m->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
			struct cmsghdr *c = CMSG_FIRSTHDR(m);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			uint16_t size = (uint16_t)seg;
			memcpy(CMSG_DATA(c), &size, sizeof(size));
		}
		first[groups++] = i;
		i = j;
	}
	unsigned sent = 0;
	while (sent < groups) {
		int r = sendmmsg(fd, b->groups + sent, groups - sent, MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		sent += (unsigned)r;
	}
	b->groups_sent = sent;
	unsigned entries = (sent == groups ? i : first[sent]) - start;
	if (entries == 0 && groups > 0)
		return -errno;
	return (int)entries;
}

/* recvmmsg/sendmmsg over caller-owned buffers: struct mmsghdr needs
 * _GNU_SOURCE, which Swift's Glibc module does not expose. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "netft_shims.h"

struct netft_udp_batch {
	unsigned count;
	unsigned buffer_size;
	struct mmsghdr *msgs;
	struct iovec *iov;
	struct sockaddr_storage *addrs;
	uint8_t *buffers;
};

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
	if (!b->msgs || !b->iov || !b->addrs) {
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
	for (unsigned i = 0; i < max; i++)
		reset(b, i, b->buffer_size);
	int n = recvmmsg(fd, b->msgs, max, MSG_DONTWAIT, NULL);
	return n < 0 ? -errno : n;
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

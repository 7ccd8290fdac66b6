/* One IPv4 datagram sent from a chosen local address (IP_PKTINFO), so a
 * socket on a namespace holding many addresses answers from the one that was
 * asked. The CMSG_* helpers are macros Swift cannot call. */
#define _GNU_SOURCE
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include "netft_shims.h"

long netft_udp_sendto_from(int fd, const void *buf, size_t len, const struct sockaddr *to, uint32_t tolen, uint32_t source_be)
{
	char control[CMSG_SPACE(sizeof(struct in_pktinfo))];
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = {
		.msg_name = (void *)to, .msg_namelen = tolen,
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	memset(control, 0, sizeof(control));
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = IPPROTO_IP;
	c->cmsg_type = IP_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
	struct in_pktinfo *info = (struct in_pktinfo *)CMSG_DATA(c);
	info->ipi_spec_dst.s_addr = source_be;
	return sendmsg(fd, &msg, MSG_DONTWAIT);
}

/* Raw frames through AF_PACKET (a gratuitous ARP after a MAC change). */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/if_packet.h>
#include "netft_shims.h"

int netft_packet_send(int ifindex, const void *frame, size_t len)
{
	/* Protocol 0: this socket only sends, it receives nothing. */
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_ll to;
	memset(&to, 0, sizeof(to));
	to.sll_family = AF_PACKET;
	to.sll_ifindex = ifindex;
	to.sll_halen = 6;
	memcpy(to.sll_addr, frame, 6);
	ssize_t n = sendto(fd, frame, len, 0, (const struct sockaddr *)&to, sizeof(to));
	int err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

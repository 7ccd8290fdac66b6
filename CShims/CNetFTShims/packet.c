/* Raw frames through AF_PACKET (a gratuitous ARP after a MAC change). */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
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

/* A socket that sees every frame arriving on ifindex (not the ones it sends
 * itself) with a virtio-net header before each, and sends frames out of it
 * the same way: the header carries GSO and partial checksums across, so a
 * frame written back out is the skb that came in (the lab's WAN relay). */
int netft_packet_open_relay(int ifindex, int receive_buffer_bytes)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
	if (fd < 0)
		return -errno;
	int one = 1;
	struct sockaddr_ll at;
	memset(&at, 0, sizeof(at));
	at.sll_family = AF_PACKET;
	at.sll_protocol = htons(ETH_P_ALL);
	at.sll_ifindex = ifindex;
	/* FORCE: past rmem_max. A burst larger than the buffer is lost in the
	 * socket, not in the relay's own queue, and only tp_drops tells. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer_bytes, sizeof(receive_buffer_bytes)) != 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) != 0 ||
	    bind(fd, (const struct sockaddr *)&at, sizeof(at)) != 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Frames the kernel dropped for want of room in the socket since the last
 * call (PACKET_STATISTICS resets on read), or -errno. */
long long netft_packet_take_drops(int fd)
{
	struct tpacket_stats stats;
	socklen_t len = sizeof(stats);
	if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &stats, &len) != 0)
		return -errno;
	return stats.tp_drops;
}

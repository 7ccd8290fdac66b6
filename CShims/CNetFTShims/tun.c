/* TUN device open: TUNSETIFF is a variadic ioctl Swift cannot call. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include "netft_shims.h"

int netft_tun_open(const char *name, int flags, char *actual)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = (short)flags;
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	if (actual)
		memcpy(actual, ifr.ifr_name, IFNAMSIZ);
	return fd;
}

/* TUNSETOFFLOAD: which offloads (TUN_F_*) the kernel may hand this reader.
 * Takes an unsigned long by value, hence the wrapper. */
int netft_tun_set_offload(int fd, unsigned int flags)
{
	return ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0 ? -errno : 0;
}

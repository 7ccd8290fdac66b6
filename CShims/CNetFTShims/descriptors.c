/* Descriptors the Swift Glibc module does not expose (they need _GNU_SOURCE). */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include "netft_shims.h"

int netft_eventfd(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int netft_peer_pid(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return -errno;
	return cred.pid;
}

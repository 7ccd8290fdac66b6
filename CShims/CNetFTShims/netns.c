/* setns(2) needs _GNU_SOURCE, which Swift's Glibc module does not expose. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include "netft_shims.h"

int netft_enter_netns(int fd)
{
	return setns(fd, CLONE_NEWNET) ? -errno : 0;
}

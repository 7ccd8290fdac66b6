/* Signals as a file descriptor the event loop polls (signalfd). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "netft_shims.h"

int netft_signals_open(void)
{
	/* A clean slate first: a parent may have spawned us with signals blocked
	 * (a libdispatch or Swift concurrency thread blocks nearly all, and a
	 * test harness spawns from one) or ignored, and exec keeps both. Blocked,
	 * no thread would answer the capability drop's signal; an ignored
	 * SIGTERM would never reach the signalfd. */
	sigset_t none;
	sigemptyset(&none);
	if (pthread_sigmask(SIG_SETMASK, &none, NULL) != 0)
		return -errno;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0)
		return -errno;
	int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int netft_signals_read(int fd)
{
	struct signalfd_siginfo info;
	ssize_t n = read(fd, &info, sizeof(info));
	if (n != sizeof(info))
		return n < 0 ? -errno : 0;
	return (int)info.ssi_signo;
}

int netft_pidfd_open(int pid)
{
	/* A descriptor that becomes readable when the process exits (Linux 5.3+). */
	long fd = syscall(SYS_pidfd_open, pid, 0);
	return fd < 0 ? -errno : (int)fd;
}

/* Capabilities for every thread of the process. Linux keeps them per
 * thread and capset(2) changes only the caller's, so every other thread is
 * asked by a real-time signal whose handler makes the same syscalls (what
 * libpsx does). The syscalls are async-signal-safe; errno is preserved. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include "netft_shims.h"

static uint64_t keep_mask;
static atomic_int threads_done, threads_failed;

static int limit_this_thread(void)
{
	/* The bounding set first: dropping from it needs CAP_SETPCAP, which capset
	 * removes. Without CAP_SETPCAP it stays, harmless once permitted is empty
	 * and no_new_privs forbids gaining anything by exec. */
	for (int cap = 0; cap < 64 && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (!((keep_mask >> cap) & 1) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EPERM)
			return -1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
		return -1;
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2] = { { 0 } };
	data[0].effective = data[0].permitted = (uint32_t)keep_mask;
	data[1].effective = data[1].permitted = (uint32_t)(keep_mask >> 32);
	if (syscall(SYS_capset, &header, data) != 0)
		return -1;
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

static void on_signal(int sig)
{
	(void)sig;
	int saved = errno;
	if (limit_this_thread() != 0)
		atomic_fetch_add(&threads_failed, 1);
	atomic_fetch_add(&threads_done, 1);
	errno = saved;
}

/* Threads other than `self` whose effective or permitted set is not `keep`
 * yet (asked by `sig` when `ask`); a thread that is gone is not counted. */
static int others_unlimited(pid_t self, int ask, int sig)
{
	DIR *tasks = opendir("/proc/self/task");
	if (!tasks)
		return -errno;
	pid_t process = getpid();
	int pending = 0;
	struct dirent *entry;
	while ((entry = readdir(tasks))) {
		pid_t tid = (pid_t)atoi(entry->d_name);
		if (tid <= 0 || tid == self)
			continue;
		struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = tid };
		struct __user_cap_data_struct data[2] = { { 0 } };
		if (syscall(SYS_capget, &header, data) != 0)
			continue;
		uint64_t effective = data[0].effective | (uint64_t)data[1].effective << 32;
		uint64_t permitted = data[0].permitted | (uint64_t)data[1].permitted << 32;
		if (effective == keep_mask && permitted == keep_mask)
			continue;
		pending++;
		if (ask)
			syscall(SYS_tgkill, process, tid, sig);
	}
	closedir(tasks);
	return pending;
}

int netft_capabilities_limit(uint64_t keep)
{
	keep_mask = keep;
	atomic_store(&threads_failed, 0);
	int sig = SIGRTMIN + 4;
	struct sigaction action = { .sa_handler = on_signal, .sa_flags = SA_RESTART }, previous;
	sigemptyset(&action.sa_mask);
	if (sigaction(sig, &action, &previous) != 0)
		return -errno;

	pid_t self = (pid_t)syscall(SYS_gettid), process = getpid();
	int asked = 0, result = 0;
	atomic_store(&threads_done, 0);
	DIR *tasks = opendir("/proc/self/task");
	if (!tasks) {
		result = -errno;
		goto out;
	}
	struct dirent *entry;
	while ((entry = readdir(tasks))) {
		pid_t tid = (pid_t)atoi(entry->d_name);
		if (tid <= 0 || tid == self)
			continue;
		if (syscall(SYS_tgkill, process, tid, sig) == 0)
			asked++;
	}
	closedir(tasks);
	if (limit_this_thread() != 0) {
		result = -errno;
		goto out;
	}
	/* Every other thread answers within 2 s of the clock (a count of 1 ms
	 * sleeps was no bound on a saturated host). One that did not answer may
	 * have exited after it was asked: what counts then is that every thread
	 * still alive holds only `keep` (capget), or the call fails. A thread that
	 * blocks the signal never answers: netft_signals_open clears the mask a
	 * parent left before any thread exists, so only a thread a library
	 * started with its own mask could. */
	struct timespec pause = { 0, 1000000 }, start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (atomic_load(&threads_done) < asked) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >= 2000)
			break;
		nanosleep(&pause, NULL);
	}
	if (atomic_load(&threads_done) < asked && others_unlimited(self, 0, sig) != 0)
		result = -ETIMEDOUT;
	else if (atomic_load(&threads_failed) > 0)
		result = -EPERM;
out:
	sigaction(sig, &previous, NULL);
	return result;
}

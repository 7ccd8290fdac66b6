/* bpffs check and mount: statfs's magic lives in linux/magic.h. */
#include <errno.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include "netft_shims.h"

int netft_bpffs_ensure(const char *path)
{
	struct statfs fs;
	if (statfs(path, &fs) == 0 && fs.f_type == BPF_FS_MAGIC)
		return 0;
	return mount("bpf", path, "bpf", 0, NULL) ? -errno : 0;
}

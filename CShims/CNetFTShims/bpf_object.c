/* libbpf object handle: open from memory, load, find, pin. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "netft_shims.h"

struct netft_bpf {
	struct bpf_object *obj;
};

static __thread char last_message[4096];

static int capture_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	/* Keep the tail of what libbpf said: the verifier's reason is last. */
	char line[1024];
	vsnprintf(line, sizeof(line), fmt, args);
	size_t used = strlen(last_message), add = strlen(line);
	if (used + add >= sizeof(last_message))
		used = 0;
	memcpy(last_message + used, line, add + 1);
	return 0;
}

const char *netft_bpf_last_message(void)
{
	return last_message;
}

int netft_bpf_open_load(const void *elf, size_t len, const char *name, struct netft_bpf **out)
{
	last_message[0] = 0;
	libbpf_set_print(capture_libbpf);
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
	struct bpf_object *obj = bpf_object__open_mem(elf, len, &opts);
	if (!obj)
		return -errno;
	int err = bpf_object__load(obj);
	if (err) {
		bpf_object__close(obj);
		return err < 0 ? err : -err;
	}
	struct netft_bpf *h = calloc(1, sizeof(*h));
	if (!h) {
		bpf_object__close(obj);
		return -ENOMEM;
	}
	h->obj = obj;
	*out = h;
	return 0;
}

void netft_bpf_close(struct netft_bpf *h)
{
	if (!h)
		return;
	bpf_object__close(h->obj);
	free(h);
}

int netft_bpf_prog_fd(struct netft_bpf *h, const char *prog_name)
{
	struct bpf_program *p = bpf_object__find_program_by_name(h->obj, prog_name);
	return p ? bpf_program__fd(p) : -ENOENT;
}

int netft_bpf_map_fd(struct netft_bpf *h, const char *map_name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(h->obj, map_name);
	return m ? bpf_map__fd(m) : -ENOENT;
}

int netft_bpf_pin_map(struct netft_bpf *h, const char *map_name, const char *path)
{
	int fd = netft_bpf_map_fd(h, map_name);
	if (fd < 0)
		return fd;
	unlink(path);
	return bpf_obj_pin(fd, path) ? -errno : 0;
}

int netft_bpf_pin_prog(struct netft_bpf *h, const char *prog_name, const char *path)
{
	int fd = netft_bpf_prog_fd(h, prog_name);
	if (fd < 0)
		return fd;
	unlink(path);
	return bpf_obj_pin(fd, path) ? -errno : 0;
}

int netft_bpf_unpin(const char *path)
{
	return unlink(path) ? -errno : 0;
}

int netft_xdp_attach(int ifindex, int prog_fd, uint32_t xdp_flags)
{
	return bpf_xdp_attach(ifindex, prog_fd, xdp_flags, NULL);
}

int netft_xdp_detach(int ifindex, uint32_t xdp_flags)
{
	return bpf_xdp_detach(ifindex, xdp_flags, NULL);
}

int netft_xdp_query_id(int ifindex, uint32_t xdp_flags, uint32_t *prog_id)
{
	return bpf_xdp_query_id(ifindex, (int)xdp_flags, prog_id);
}

int netft_xdp_attach_link(int ifindex, int prog_fd, uint32_t xdp_flags)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = xdp_flags);
	int fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &opts);
	return fd < 0 ? -errno : fd;
}

int netft_xdp_query_attached(int ifindex, uint32_t *prog_id, uint8_t *attach_mode, char *name)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	*prog_id = 0;
	*attach_mode = 0;
	name[0] = 0;
	if (bpf_xdp_query(ifindex, 0, &q))
		return -errno;
	*prog_id = q.prog_id ? q.prog_id : (q.drv_prog_id ? q.drv_prog_id : (q.skb_prog_id ? q.skb_prog_id : q.hw_prog_id));
	*attach_mode = q.attach_mode;
	if (!*prog_id)
		return 0;
	int fd = bpf_prog_get_fd_by_id(*prog_id);
	if (fd < 0)
		return 0; /* the id is still worth reporting */
	struct bpf_prog_info info;
	memset(&info, 0, sizeof(info));
	__u32 len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
		memcpy(name, info.name, BPF_OBJ_NAME_LEN);
	close(fd);
	return 0;
}

int netft_bpf_test_run(int prog_fd, const void *frame, uint32_t len, void *out, uint32_t *out_len,
		       uint32_t *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len, .data_out = out,
		    .data_size_out = out_len ? *out_len : 0, .repeat = 1);
	int err = bpf_prog_test_run_opts(prog_fd, &opts);
	if (err)
		return -errno;
	if (out_len)
		*out_len = opts.data_size_out;
	*retval = opts.retval;
	return 0;
}

int netft_stats_read(int map_fd, struct netft_stats *sum)
{
	int cpus = libbpf_num_possible_cpus();
	if (cpus <= 0)
		return cpus ? cpus : -EINVAL;
	struct netft_stats *per_cpu = calloc((size_t)cpus, sizeof(*per_cpu));
	if (!per_cpu)
		return -ENOMEM;
	__u32 key = 0;
	int err = bpf_map_lookup_elem(map_fd, &key, per_cpu) ? -errno : 0;
	memset(sum, 0, sizeof(*sum));
	for (int c = 0; !err && c < cpus; c++) {
		const __u64 *from = (const __u64 *)&per_cpu[c];
		__u64 *to = (__u64 *)sum;
		for (size_t f = 0; f < NETFT_STATS_FIELDS; f++)
			to[f] += from[f];
	}
	free(per_cpu);
	return err;
}

int netft_config_write(int map_fd, const struct netft_config *config)
{
	__u32 key = 0;
	return bpf_map_update_elem(map_fd, &key, config, BPF_ANY) ? -errno : 0;
}

int netft_peers_admit(int map_fd, const struct netft_peer_key *key, uint32_t node_id)
{
	struct netft_peer_budget budget = { .node_id = node_id };
	return bpf_map_update_elem(map_fd, key, &budget, BPF_ANY) ? -errno : 0;
}

int netft_peers_forget(int map_fd, const struct netft_peer_key *key)
{
	return bpf_map_delete_elem(map_fd, key) && errno != ENOENT ? -errno : 0;
}

int netft_xskmap_set(int map_fd, uint32_t queue, int xsk_fd)
{
	return bpf_map_update_elem(map_fd, &queue, &xsk_fd, BPF_ANY) ? -errno : 0;
}

int netft_xskmap_clear(int map_fd, uint32_t queue)
{
	return bpf_map_delete_elem(map_fd, &queue) ? -errno : 0;
}

int netft_routes_update(int map_fd, const struct netft_route_info *info)
{
	return bpf_map_update_elem(map_fd, &info->id, info, BPF_ANY) ? -errno : 0;
}

int netft_routes_delete(int map_fd, uint32_t id)
{
	return bpf_map_delete_elem(map_fd, &id) ? -errno : 0;
}

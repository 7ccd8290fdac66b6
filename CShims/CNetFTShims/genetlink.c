/* Generic netlink through libmnl: what a NIC's driver says it can do with
 * XDP (the kernel's "netdev" family, Linux 6.3+). Debian 12's uapi headers
 * predate it, so the few numbers are spelled out here. No policy. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <linux/genetlink.h>
#include <libmnl/libmnl.h>
#include "netft_shims.h"

#define NETDEV_FAMILY_NAME "netdev"
#define NETDEV_CMD_DEV_GET 1
#define NETDEV_A_DEV_IFINDEX 1
#define NETDEV_A_DEV_XDP_FEATURES 3

struct reply {
	uint16_t family;
	uint64_t features;
	int found;
};

static int family_attr(const struct nlattr *attr, void *data)
{
	struct reply *r = data;
	if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID && mnl_attr_validate(attr, MNL_TYPE_U16) == 0) {
		r->family = mnl_attr_get_u16(attr);
		r->found = 1;
	}
	return MNL_CB_OK;
}

static int device_attr(const struct nlattr *attr, void *data)
{
	struct reply *r = data;
	if (mnl_attr_get_type(attr) == NETDEV_A_DEV_XDP_FEATURES && mnl_attr_validate(attr, MNL_TYPE_U64) == 0) {
		r->features = mnl_attr_get_u64(attr);
		r->found = 1;
	}
	return MNL_CB_OK;
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr), family_attr, data);
}

static int device_cb(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr), device_attr, data);
}

/* One request, read until its ACK. */
static int ask(struct mnl_socket *sock, uint16_t type, uint8_t cmd, int ifindex, mnl_cb_t cb, struct reply *r)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = (unsigned int)time(NULL);
	struct genlmsghdr *genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = 1;
	if (type == GENL_ID_CTRL)
		mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, NETDEV_FAMILY_NAME);
	else
		mnl_attr_put_u32(nlh, NETDEV_A_DEV_IFINDEX, (uint32_t)ifindex);
	unsigned int seq = nlh->nlmsg_seq, portid = mnl_socket_get_portid(sock);
	if (mnl_socket_sendto(sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(sock, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		int result = mnl_cb_run(buf, (size_t)n, seq, portid, cb, r);
		if (result < 0)
			return -errno;
		if (result == MNL_CB_STOP)
			return 0;
	}
}

int netft_xdp_features(int ifindex, uint64_t *features)
{
	struct mnl_socket *sock = mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC);
	if (!sock)
		return -errno;
	int err = mnl_socket_bind(sock, 0, MNL_SOCKET_AUTOPID) < 0 ? -errno : 0;
	struct reply r = {0};
	if (!err)
		err = ask(sock, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0, family_cb, &r);
	if (!err && !r.found)
		err = -EOPNOTSUPP;
	if (!err) {
		uint16_t family = r.family;
		memset(&r, 0, sizeof(r));
		err = ask(sock, family, NETDEV_CMD_DEV_GET, ifindex, device_cb, &r);
		if (!err && !r.found)
			err = -EOPNOTSUPP;
	}
	if (!err)
		*features = r.features;
	mnl_socket_close(sock);
	return err;
}

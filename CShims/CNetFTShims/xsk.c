/* AF_XDP socket and UMEM rings (libxdp). The ring ops are static inline in
 * xsk.h; these wrappers give Swift one call per ring step. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <xdp/xsk.h>
#include "netft_shims.h"

struct netft_xsk {
	struct xsk_socket *socket;
	struct xsk_ring_prod *fillp; /* own rings, or the UMEM's first pair */
	struct xsk_ring_cons *compp;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
};

/* Sockets never load libxdp's own program: netft's classifier feeds them through its XSKMAP. */
static struct xsk_socket_config socket_config(const struct netft_xsk_options *opt)
{
	struct xsk_socket_config cfg = {
		.rx_size = opt->ring_size,
		.tx_size = opt->ring_size,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.xdp_flags = 0,
		.bind_flags = opt->bind_flags,
	};
	return cfg;
}

void netft_xsk_destroy(struct netft_xsk *x)
{
	if (!x)
		return;
	xsk_socket__delete(x->socket); /* the UMEM is the netft_umem's */
	free(x);
}

int netft_xsk_fd(const struct netft_xsk *x)
{
	return xsk_socket__fd(x->socket);
}

uint32_t netft_xsk_fill_free(struct netft_xsk *x, uint32_t n)
{
	return xsk_prod_nb_free(x->fillp, n);
}

int netft_xsk_tx_needs_wakeup(const struct netft_xsk *x)
{
	return xsk_ring_prod__needs_wakeup(&x->tx);
}

uint32_t netft_xsk_fill_reserve(struct netft_xsk *x, uint32_t n, uint32_t *idx)
{
	return xsk_ring_prod__reserve(x->fillp, n, idx);
}

void netft_xsk_fill_set(struct netft_xsk *x, uint32_t idx, uint64_t addr)
{
	*xsk_ring_prod__fill_addr(x->fillp, idx) = addr;
}

void netft_xsk_fill_submit(struct netft_xsk *x, uint32_t n)
{
	xsk_ring_prod__submit(x->fillp, n);
}

uint32_t netft_xsk_rx_peek(struct netft_xsk *x, uint32_t max, uint32_t *idx)
{
	return xsk_ring_cons__peek(&x->rx, max, idx);
}

const struct xdp_desc *netft_xsk_rx_desc(const struct netft_xsk *x, uint32_t idx)
{
	return xsk_ring_cons__rx_desc(&x->rx, idx);
}

void netft_xsk_rx_release(struct netft_xsk *x, uint32_t n)
{
	xsk_ring_cons__release(&x->rx, n);
}

uint32_t netft_xsk_tx_reserve(struct netft_xsk *x, uint32_t n, uint32_t *idx)
{
	return xsk_ring_prod__reserve(&x->tx, n, idx);
}

struct xdp_desc *netft_xsk_tx_desc(struct netft_xsk *x, uint32_t idx)
{
	return xsk_ring_prod__tx_desc(&x->tx, idx);
}

void netft_xsk_tx_submit(struct netft_xsk *x, uint32_t n)
{
	xsk_ring_prod__submit(&x->tx, n);
}

int netft_xsk_tx_kick(struct netft_xsk *x)
{
	if (!xsk_ring_prod__needs_wakeup(&x->tx))
		return 0;
	if (sendto(xsk_socket__fd(x->socket), NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
		return 0;
	return (errno == ENOBUFS || errno == EBUSY) ? -EAGAIN : -errno;
}

uint32_t netft_xsk_comp_peek(struct netft_xsk *x, uint32_t max, uint32_t *idx)
{
	return xsk_ring_cons__peek(x->compp, max, idx);
}

uint64_t netft_xsk_comp_addr(const struct netft_xsk *x, uint32_t idx)
{
	return *xsk_ring_cons__comp_addr(x->compp, idx);
}

void netft_xsk_comp_release(struct netft_xsk *x, uint32_t n)
{
	xsk_ring_cons__release(x->compp, n);
}

/* ---- one UMEM shared by the node's sockets (XDP_SHARED_UMEM) ---- */

struct netft_umem {
	struct xsk_umem *umem;
	struct xsk_ring_prod fill; /* handed to the first socket */
	struct xsk_ring_cons comp;
	int sockets;
};

int netft_umem_create(void *area, uint32_t frame_size, uint32_t frame_count, uint32_t ring_size,
		      struct netft_umem **out)
{
	struct netft_umem *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	struct xsk_umem_config cfg = {
		.fill_size = ring_size,
		.comp_size = ring_size,
		.frame_size = frame_size,
		.frame_headroom = 0,
		.flags = 0,
	};
	int err = xsk_umem__create(&u->umem, area, (__u64)frame_size * frame_count, &u->fill, &u->comp, &cfg);
	if (err) {
		free(u);
		return err < 0 ? err : -err;
	}
	*out = u;
	return 0;
}

int netft_umem_destroy(struct netft_umem *u)
{
	if (!u)
		return 0;
	int err = xsk_umem__delete(u->umem);
	if (err == 0)
		free(u);
	return err;
}

int netft_xsk_create_shared(const char *ifname, struct netft_umem *u, const struct netft_xsk_options *opt,
			    struct netft_xsk **out)
{
	struct netft_xsk *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	struct xsk_socket_config scfg = socket_config(opt);
	/* The first socket uses the rings made with the UMEM (on its fd); every
	 * later one gets fill and completion rings of its own. */
	x->fillp = u->sockets == 0 ? &u->fill : &x->fill;
	x->compp = u->sockets == 0 ? &u->comp : &x->comp;
	int err = xsk_socket__create_shared(&x->socket, ifname, opt->queue, u->umem, &x->rx, &x->tx, x->fillp,
					    x->compp, &scfg);
	if (err) {
		free(x);
		return err < 0 ? err : -err;
	}
	u->sockets++;
	*out = x;
	return 0;
}

int netft_xsk_statistics(const struct netft_xsk *x, struct xdp_statistics *out)
{
	socklen_t len = sizeof(*out);
	memset(out, 0, sizeof(*out));
	return getsockopt(xsk_socket__fd(x->socket), SOL_XDP, XDP_STATISTICS, out, &len) ? -errno : 0;
}

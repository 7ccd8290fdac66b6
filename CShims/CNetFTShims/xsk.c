/* AF_XDP socket and UMEM rings (libxdp). The ring ops are static inline in
 * xsk.h; these wrappers give Swift one call per ring step. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <xdp/xsk.h>
#include "netft_shims.h"

struct netft_xsk {
	struct xsk_umem *umem;
	struct xsk_socket *socket;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	void *area;
};

int netft_xsk_create(const char *ifname, void *umem_area, const struct netft_xsk_options *opt,
		     struct netft_xsk **out)
{
	struct netft_xsk *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->area = umem_area;
	struct xsk_umem_config ucfg = {
		.fill_size = opt->ring_size,
		.comp_size = opt->ring_size,
		.frame_size = opt->frame_size,
		.frame_headroom = 0,
		.flags = 0,
	};
	int err = xsk_umem__create(&x->umem, umem_area, (__u64)opt->frame_size * opt->frame_count,
				   &x->fill, &x->comp, &ucfg);
	if (err) {
		free(x);
		return err < 0 ? err : -err;
	}
	struct xsk_socket_config scfg = {
		.rx_size = opt->ring_size,
		.tx_size = opt->ring_size,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.xdp_flags = 0,
		.bind_flags = opt->bind_flags,
	};
	err = xsk_socket__create(&x->socket, ifname, opt->queue, x->umem, &x->rx, &x->tx, &scfg);
	if (err) {
		xsk_umem__delete(x->umem);
		free(x);
		return err < 0 ? err : -err;
	}
	*out = x;
	return 0;
}

void netft_xsk_destroy(struct netft_xsk *x)
{
	if (!x)
		return;
	xsk_socket__delete(x->socket);
	xsk_umem__delete(x->umem);
	free(x);
}

int netft_xsk_fd(const struct netft_xsk *x)
{
	return xsk_socket__fd(x->socket);
}

uint32_t netft_xsk_fill_reserve(struct netft_xsk *x, uint32_t n, uint32_t *idx)
{
	return xsk_ring_prod__reserve(&x->fill, n, idx);
}

void netft_xsk_fill_set(struct netft_xsk *x, uint32_t idx, uint64_t addr)
{
	*xsk_ring_prod__fill_addr(&x->fill, idx) = addr;
}

void netft_xsk_fill_submit(struct netft_xsk *x, uint32_t n)
{
	xsk_ring_prod__submit(&x->fill, n);
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
	return xsk_ring_cons__peek(&x->comp, max, idx);
}

uint64_t netft_xsk_comp_addr(const struct netft_xsk *x, uint32_t idx)
{
	return *xsk_ring_cons__comp_addr(&x->comp, idx);
}

void netft_xsk_comp_release(struct netft_xsk *x, uint32_t n)
{
	xsk_ring_cons__release(&x->comp, n);
}

/* libpcap reading behind an opaque handle (see netft_shims.h for why). */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <pcap/pcap.h>
#include <stdint.h>

struct netft_pcap {
	pcap_t *handle;
};

int netft_pcap_open_read(const char *path, char *error, size_t error_len, struct netft_pcap **out)
{
	char buffer[PCAP_ERRBUF_SIZE] = {0};
	pcap_t *handle = pcap_open_offline(path, buffer);
	if (!handle) {
		snprintf(error, error_len, "%s", buffer);
		return -EINVAL;
	}
	struct netft_pcap *p = calloc(1, sizeof(*p));
	if (!p) {
		pcap_close(handle);
		return -ENOMEM;
	}
	p->handle = handle;
	*out = p;
	return 0;
}

int netft_pcap_next_stamped(struct netft_pcap *p, const uint8_t **data, uint32_t *caplen, uint32_t *wirelen, uint64_t *usec)
{
	struct pcap_pkthdr *header;
	const u_char *bytes;
	int result = pcap_next_ex(p->handle, &header, &bytes);
	if (result == 1) {
		*data = bytes;
		*caplen = header->caplen;
		*wirelen = header->len;
		*usec = (uint64_t)header->ts.tv_sec * 1000000u + (uint64_t)header->ts.tv_usec;
		return 1;
	}
	return result == PCAP_ERROR_BREAK ? 0 : (result == 0 ? 0 : -1);
}

int netft_pcap_next(struct netft_pcap *p, const uint8_t **data, uint32_t *len)
{
	uint32_t wirelen;
	uint64_t usec;
	return netft_pcap_next_stamped(p, data, len, &wirelen, &usec);
}

int netft_pcap_datalink(struct netft_pcap *p)
{
	return pcap_datalink(p->handle);
}

const char *netft_pcap_error(struct netft_pcap *p)
{
	return pcap_geterr(p->handle);
}

void netft_pcap_close(struct netft_pcap *p)
{
	if (!p)
		return;
	pcap_close(p->handle);
	free(p);
}

int netft_pcap_open_live(const char *ifname, const char *filter, char *error, size_t error_len, struct netft_pcap **out)
{
	char buffer[PCAP_ERRBUF_SIZE] = {0};
	pcap_t *handle = pcap_create(ifname, buffer);
	if (!handle) {
		snprintf(error, error_len, "%s", buffer);
		return -EINVAL;
	}
	pcap_set_snaplen(handle, 65535);
	pcap_set_immediate_mode(handle, 1);
	pcap_set_promisc(handle, 1);
	int err = pcap_activate(handle);
	struct bpf_program program;
	if (err < 0 || pcap_setnonblock(handle, 1, buffer) < 0 ||
	    (filter && (pcap_compile(handle, &program, filter, 1, PCAP_NETMASK_UNKNOWN) < 0 ||
			pcap_setfilter(handle, &program) < 0))) {
		snprintf(error, error_len, "%s", pcap_geterr(handle));
		pcap_close(handle);
		return -EINVAL;
	}
	if (filter)
		pcap_freecode(&program);
	struct netft_pcap *p = calloc(1, sizeof(*p));
	if (!p) {
		pcap_close(handle);
		return -ENOMEM;
	}
	p->handle = handle;
	*out = p;
	return 0;
}

int netft_pcap_fd(struct netft_pcap *p)
{
	return pcap_get_selectable_fd(p->handle);
}

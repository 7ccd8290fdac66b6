/* The host firewall's ruleset as libnftables' JSON (the same document
 * `nft -j list ruleset` prints), in the calling thread's network namespace.
 * Swift reads the JSON; no policy here. */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <nftables/libnftables.h>
#include "netft_shims.h"

int netft_nft_ruleset_json(char **json, char *error, size_t error_len)
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx)
		return -ENOMEM;
	nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE);
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	int result = 0;
	if (nft_run_cmd_from_buffer(ctx, "list ruleset") != 0) {
		snprintf(error, error_len, "%s", nft_ctx_get_error_buffer(ctx));
		result = -EIO;
	} else {
		*json = strdup(nft_ctx_get_output_buffer(ctx));
		if (!*json)
			result = -ENOMEM;
	}
	nft_ctx_free(ctx);
	return result;
}

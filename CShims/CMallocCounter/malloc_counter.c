/* A malloc counter to LD_PRELOAD into a running netft daemon: every
 * allocation is counted per thread and forwarded to glibc. The daemon finds
 * netft_malloc_thread_count() with dlsym and counts the allocations made
 * while it handles packets (netft bench: allocations per packet). */
#include <stddef.h>
#include "malloc_counter.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static __thread unsigned long long thread_count;

unsigned long long netft_malloc_thread_count(void)
{
	return thread_count;
}

void *malloc(size_t size)
{
	thread_count++;
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	thread_count++;
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	thread_count++;
	return __libc_realloc(p, size);
}

void *memalign(size_t alignment, size_t size)
{
	thread_count++;
	return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size)
{
	thread_count++;
	return __libc_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
	thread_count++;
	void *p = __libc_memalign(alignment, size);
	if (!p)
		return 12; /* ENOMEM */
	*out = p;
	return 0;
}

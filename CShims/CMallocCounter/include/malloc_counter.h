#ifndef NETFT_MALLOC_COUNTER_H
#define NETFT_MALLOC_COUNTER_H
/* Allocations made by the calling thread since it started (when preloaded). */
unsigned long long netft_malloc_thread_count(void);
#endif

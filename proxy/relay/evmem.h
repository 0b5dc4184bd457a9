/*
 * evmem.h - libevent's memory through a small per-thread cache of freed buffer blocks.
 *
 * Every read a session makes takes a 16 KiB evbuffer chain and every write frees one: two
 * allocations per statement of a size glibc's per-thread cache does not hold (it stops at
 * 1 KiB), about 650 instructions per statement through malloc's bins. evmem keeps a few freed
 * blocks per power-of-two size class (4 KiB to 64 KiB) per thread and hands them back to the
 * next request of that class; everything else goes straight to malloc.
 *
 * Contract:
 * - evmem_install() must run before the first libevent call of the process (libevent's rule
 *   for event_set_mem_functions); it is a no-op in builds with AddressSanitizer, whose checks
 *   of freed memory a cache would hide.
 * - A block may be freed by another thread than the one that allocated it; it then joins the
 *   freeing thread's cache. Each thread keeps at most EVMEM_KEEP blocks per class (under
 *   0.5 MiB in all); a thread's cache is released when the thread exits, and evmem_thread_end()
 *   releases the calling thread's at once (main calls it before it returns).
 */
#ifndef SLOWTAP_EVMEM_H
#define SLOWTAP_EVMEM_H

void evmem_install(void);
void evmem_thread_end(void);

#endif

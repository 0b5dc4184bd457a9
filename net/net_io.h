/*
 * net_io.h - the socket calls of the relay's hot path (a read and a write per wake-up),
 * made as plain system calls rather than through glibc's wrappers.
 *
 * In a process with more than one thread, glibc makes recv, send, readv and writev
 * cancellation points: each call switches asynchronous cancellation on and off around the
 * system call (__pthread_enable_asynccancel / __pthread_disable_asynccancel), about 60
 * instructions a call. slowtap never cancels a thread (no pthread_cancel anywhere), so that
 * bookkeeping buys nothing; measured with tests/bench/instructions.py it was ~170 of the
 * ~5,600 instructions a relayed statement costs.
 *
 * Contract: the same arguments, results and errno as recv(2), send(2), readv(2) and writev(2);
 * none of them is a cancellation point.
 */
#ifndef SLOWTAP_NET_IO_H
#define SLOWTAP_NET_IO_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static inline ssize_t
net_recv(int fd, void *buf, size_t n, int flags)
{
    return (ssize_t)syscall(SYS_recvfrom, fd, buf, n, flags, NULL, NULL);
}

static inline ssize_t
net_send(int fd, const void *buf, size_t n, int flags)
{
    return (ssize_t)syscall(SYS_sendto, fd, buf, n, flags, NULL, 0);
}

static inline ssize_t
net_readv(int fd, const struct iovec *iov, int n)
{
    return (ssize_t)syscall(SYS_readv, fd, iov, n);
}

static inline ssize_t
net_writev(int fd, const struct iovec *iov, int n)
{
    return (ssize_t)syscall(SYS_writev, fd, iov, n);
}

#endif

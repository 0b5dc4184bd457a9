/*
 * logfile.h - an append-only log file written by a thread of its own, so that no worker ever
 * waits on the disk. Workers fill per-thread buffers (struct logbuf) and hand them over in
 * batches; the writer thread writes them. Used for the slow log and the explain log.
 *
 * Bounded: when more than `max_pending` bytes are waiting (a slow or full disk), new batches
 * are dropped and counted per entry. An unwritable file gives one warning on stderr (and one
 * more when it recovers). Files are created with mode 0640. "-" is stdout.
 *
 * Details of the contract:
 * - A batch is dropped when the bytes already queued (or being written) plus its own exceed
 *   max_pending; an empty queue always takes one batch, however big. max_pending 0 means the
 *   default, 64 MiB.
 * - Write errors (ENOSPC, EIO, EBADF ...) drop the failed batch and print, once,
 *   "slowtap: slow log <path>: <strerror>; dropping entries"; the first successful write after
 *   that prints "slowtap: slow log <path>: recovered". Each warning is one write(2) on fd 2.
 * - Whole or absent: an entry is in the file completely or not at all. A short write (a disk
 *   that fills up) keeps the whole entries it wrote and cuts the file back (ftruncate) to the
 *   end of the last of them; the rest of the batch is dropped. A file that cannot be cut (a
 *   pipe, a device, an append-only file) gets a newline after the fragment instead. Until one
 *   or the other succeeds nothing more is appended (entries are dropped), so no entry is ever
 *   glued to a fragment. The counters say exactly what is in the file: written counts the
 *   entries that are in it, dropped the ones that are not.
 * - Moved: every 250 ms (350 at most, idle) the writer compares the path with the open file
 *   (stat against fstat: device and inode). When the file was deleted, renamed or replaced, it
 *   opens the path anew and prints "slowtap: slow log <path>: the file was deleted; reopened"
 *   (renamed, replaced); if that open fails it warns once and keeps writing to the old file.
 *   Regular files only: a device or a pipe is never compared.
 * - The file is opened O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC with mode 0640, which the umask
 *   then narrows: 0640 under the usual umask 022, 0600 under 077. An existing file keeps its
 *   mode.
 * - Reopen (SIGHUP): the writer checks the request at least every 100 ms, opens the path anew and
 *   closes the old descriptor. If the new open fails it warns and keeps writing to the old
 *   descriptor (or keeps dropping, when there was none). "-" (stdout) is never reopened or
 *   closed.
 * - Entries are never split or interleaved: a logbuf hands over only whole entries, and each
 *   batch is written in order by the single writer thread.
 * - Lifetime: free (or at least flush) every logbuf of a logfile before logfile_close; entries
 *   flushed before logfile_close are all written or counted as dropped when it returns.
 */
#ifndef SLOWTAP_LOGFILE_H
#define SLOWTAP_LOGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct logfile;

/*
 * Opens (creating, mode 0640, appending) `path` and starts its writer thread. On failure to
 * open it prints one warning and still returns a logfile that drops everything until a
 * reopen succeeds; NULL only when out of memory or the thread cannot start.
 */
struct logfile *logfile_open(const char *path, size_t max_pending);
/* The same, with `what` naming the file in warnings ("explain log"; logfile_open says "slow
 * log"). */
struct logfile *logfile_open_named(const char *what, const char *path, size_t max_pending);

/* Asks the writer thread to reopen the file (SIGHUP, logrotate). Async-signal-safe. */
void logfile_reopen(struct logfile *lf);

/* Writes everything pending, stops the thread, closes the file, frees. NULL is fine.
 * Not for signal handlers. */
void logfile_close(struct logfile *lf);

/* Entries written to the file / dropped (queue full, write error, out of memory) so far.
 * Any thread; NULL gives 0. */
uint64_t logfile_entries_written(const struct logfile *lf);
uint64_t logfile_entries_dropped(const struct logfile *lf);

/*
 * A per-thread buffer of whole entries. Only its owning thread appends; logbuf_flush() hands
 * what it holds to the writer (one short critical section per batch, never per entry).
 */
struct logbuf;

/* NULL when out of memory. */
struct logbuf *logbuf_new(struct logfile *lf);
void logbuf_free(struct logbuf *b); /* flushes first (an unfinished entry is discarded) */

/* Appends one whole entry (already formatted). Flushes by itself past 64 KiB, and when the
 * entry ends 20 ms or more after the buffer last handed entries over (logbuf_end). */
void logbuf_append(struct logbuf *b, const char *entry, size_t len);
/*
 * printf-style helpers for building one entry in pieces: begin, add..., end. The entry counts
 * (and can be flushed) only once ended; begin while an entry is unfinished discards it. If the
 * buffer cannot grow (out of memory) the entry is dropped at end and counted as dropped.
 */
void logbuf_begin(struct logbuf *b);
void logbuf_add(struct logbuf *b, const char *s, size_t len);
void logbuf_printf(struct logbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Direct formatting into the buffer: logbuf_reserve returns room for at least n bytes of the
 * current entry (NULL when out of memory), logbuf_commit(b, used) keeps the first `used` of
 * them (used <= n). Nothing else may touch the buffer in between. */
char *logbuf_reserve(struct logbuf *b, size_t n);
void logbuf_commit(struct logbuf *b, size_t used);
void logbuf_end(struct logbuf *b);
/* Ends the entry being built without writing it, counting it as dropped (a formatter that
 * failed). */
void logbuf_abandon(struct logbuf *b);
/* Hands the buffered whole entries to the writer thread (an entry being built stays). Call
 * from a timer and at exit. Cheap when empty. The timer's period bounds how long an entry can
 * wait in the buffer: logbuf_end hands over at once only when the previous handover is 20 ms
 * old or more, so entries that follow another within 20 ms wait for this call. */
void logbuf_flush(struct logbuf *b);

#endif

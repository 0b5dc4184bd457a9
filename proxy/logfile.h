/*
 * logfile.h - an append-only log file written by a thread of its own, so that no worker ever
 * waits on the disk. Workers fill per-thread buffers (struct logbuf) and hand them over in
 * batches; the writer thread writes them. Used for the slow log and the explain log.
 *
 * Bounded: when more than `max_pending` bytes are waiting (a slow or full disk), new batches
 * are dropped and counted per entry. An unwritable file gives one warning on stderr (and one
 * more when it recovers). Files are created with mode 0640. "-" is stdout.
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

/* Asks the writer thread to reopen the file (SIGHUP, logrotate). Async-signal-safe. */
void logfile_reopen(struct logfile *lf);

/* Writes everything pending, stops the thread, closes the file, frees. NULL is fine. */
void logfile_close(struct logfile *lf);

uint64_t logfile_entries_written(const struct logfile *lf);
uint64_t logfile_entries_dropped(const struct logfile *lf);

/*
 * A per-thread buffer of whole entries. Only its owning thread appends; logbuf_flush() hands
 * what it holds to the writer (one short critical section per batch, never per entry).
 */
struct logbuf;

struct logbuf *logbuf_new(struct logfile *lf);
void logbuf_free(struct logbuf *b); /* flushes first */

/* Appends one whole entry (already formatted). Flushes by itself past 64 KiB. */
void logbuf_append(struct logbuf *b, const char *entry, size_t len);
/* printf-style helpers for building one entry in pieces: begin, add..., end. */
void logbuf_begin(struct logbuf *b);
void logbuf_add(struct logbuf *b, const char *s, size_t len);
void logbuf_printf(struct logbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void logbuf_end(struct logbuf *b);
/* Hands the buffered entries to the writer thread. Call from a timer (every ~50 ms) and at
 * exit. Cheap when empty. */
void logbuf_flush(struct logbuf *b);

#endif

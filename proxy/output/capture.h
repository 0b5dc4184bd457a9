/*
 * capture.h - a capture of every session's commands into a file (docs/capture-format.md),
 * written by a thread of its own. Workers encode records (protocol/proto_capture.h) into
 * per-thread buffers (struct capbuf) and hand them over whole; the writer thread compresses
 * each buffer into one block and writes it with one write(2): a block is in the file whole or
 * not at all.
 *
 * One capture at a time per process (--capture FILE at start-up, POST /api/capture later).
 * While none runs, capture_gen() is 0 and the data path does nothing else for capture.
 *
 * Contract:
 * - capture_start creates the file (O_CREAT|O_TRUNC, mode 0600 whatever the umask allows;
 *   an existing file is refused unless it is empty or a capture, so a typo cannot overwrite a
 *   log), writes the header, starts the writer, and says on stderr that the capture holds real
 *   values. Each start gets a new generation number (never 0).
 * - Bounds: the file never grows past max_bytes (0 = no bound): the block that would pass it
 *   is not written and the capture stops; after `seconds` (0 = no bound) it stops. Each stop
 *   prints one line: "slowtap: capture FILE stopped: WHY (R records, B bytes, D dropped)".
 * - Bounded queue: when more than CAPTURE_MAX_PENDING bytes of records wait for the writer, a
 *   buffer handed over is dropped and its records counted as dropped; a worker never waits.
 * - A write error (or a short write, which is cut back with ftruncate) stops the capture.
 * - Records in a worker's buffer for a capture that has stopped are discarded (not counted).
 */
#ifndef SLOWTAP_CAPTURE_H
#define SLOWTAP_CAPTURE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/proto_capture.h"

#define CAPTURE_MAX_PENDING (64u << 20) /* bytes of records waiting for the writer, at most */
#define CAPTURE_PATH_MAX    1024

struct capture;
struct capbuf;

/* A capture controller, idle. NULL when out of memory. */
struct capture *capture_new(void);
/* Stops a running capture (as capture_stop) and frees. NULL is fine. */
void capture_free(struct capture *c);

/* Starts a capture into `path`; 0, or -1 with a one-line reason in err (a capture runs
 * already: *busy set; the file cannot be created). Any thread. */
int capture_start(struct capture *c, const char *path, uint64_t max_bytes, uint64_t seconds,
                  bool *busy, char *err, size_t errlen);
/* Stops the running capture: what the writer holds is written first. `why` for the stop line.
 * No-op when none runs. Any thread but the writer. */
void capture_stop(struct capture *c, const char *why);

struct capture_status {
    bool running;
    char path[CAPTURE_PATH_MAX]; /* the running or last capture's file, "" if none yet */
    char stopped_why[64];        /* why the last one stopped, "" while running */
    int64_t started_us;          /* realtime */
    uint64_t max_bytes, seconds; /* its bounds, 0 = none */
    uint64_t records, bytes;     /* written to its file so far (bytes: the file's size) */
    uint64_t dropped;            /* records dropped in it */
};
void capture_status(struct capture *c, struct capture_status *st);

/* Process totals since start-up (every capture), for /metrics. */
uint64_t capture_records_total(const struct capture *c);
uint64_t capture_bytes_total(const struct capture *c);
uint64_t capture_dropped_total(const struct capture *c);

/* The start of struct capture, for the inline check below. */
struct capture_head {
    _Atomic uint32_t gen; /* the running capture's generation, 0 when none runs */
};

/* The running capture's generation, 0 when none runs: the data path's one check. */
static inline uint32_t
capture_gen(const struct capture *c)
{
    return c ? atomic_load_explicit(&((const struct capture_head *)(const void *)c)->gen,
                                    memory_order_relaxed)
             : 0;
}

/* ---- per-thread buffers ---- */

/* NULL when out of memory. A buffer belongs to one thread. */
struct capbuf *capbuf_new(struct capture *c);
/* Flushes, then frees. NULL is fine. */
void capbuf_free(struct capbuf *b);
/* Appends one record of capture generation `gen` (from capture_gen). False when it was
 * dropped (too big for a block, out of memory). */
bool capbuf_session(struct capbuf *b, uint32_t gen, const struct proto_cap_session *s);
bool capbuf_command(struct capbuf *b, uint32_t gen, const struct proto_cap_command *cmd);
bool capbuf_file(struct capbuf *b, uint32_t gen, const struct proto_cap_file *f);
bool capbuf_end(struct capbuf *b, uint32_t gen, const struct proto_cap_end *e);
/* Hands the whole records buffered to the writer (a tick, and at exit). Cheap when empty. */
void capbuf_flush(struct capbuf *b);

#endif

/*
 * timefmt.h - the one ISO-8601 formatter: a wall-clock time in microseconds since the epoch
 * as "2026-11-24T21:48:00.123456Z" (UTC, always microseconds, always 27 characters). Used by
 * the slow log (JSON "time", the text "# Time:" line is derived from it), the explain log and
 * the HTTP API. Pure code, no I/O.
 *
 * Nothing in slowtap writes local times (log readers compare times across hosts), so there is
 * no local-time form; add one here if a caller ever needs it.
 */
#ifndef SLOWTAP_TIMEFMT_H
#define SLOWTAP_TIMEFMT_H

#include <stdint.h>

#define TIMEFMT_ISO_LEN 27 /* characters, without the NUL */

/* Writes wall_us as ISO 8601 UTC with microseconds and a NUL into out. Times before the epoch
 * are written as the epoch, years past 9999 as 9999. Cheap on the per-statement path: each
 * thread keeps the last second it broke down (no lock, no allocation). */
void timefmt_iso_utc(int64_t wall_us, char out[TIMEFMT_ISO_LEN + 1]);

#endif

/*
 * timefmt.c - ISO 8601 UTC with microseconds (timefmt.h). The date and time part changes once
 * a second, so each thread keeps the last one it formatted: gmtime_r was a tenth of the cost
 * of writing a slow-log entry.
 */
#include "common/timefmt.h"

#include <string.h>
#include <time.h>

void
timefmt_iso_utc(int64_t wall_us, char out[TIMEFMT_ISO_LEN + 1])
{
    if (wall_us < 0) {
        wall_us = 0;
    }
    time_t secs = (time_t)(wall_us / 1000000);
    long us = (long)(wall_us % 1000000);
    /* "2026-11-24T21:48:00." */
    static _Thread_local time_t cached_secs = -1;
    static _Thread_local char cached[20];
    if (secs != cached_secs) {
        struct tm tm;
        if (!gmtime_r(&secs, &tm)) {
            memset(&tm, 0, sizeof tm);
            tm.tm_year = 9999 - 1900;
            tm.tm_mday = 1;
        }
        int year = tm.tm_year + 1900;
        if (year > 9999) {
            year = 9999;
        }
        int vals[6] = {year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec};
        static const char seps[6] = {'-', '-', 'T', ':', ':', '.'};
        char *q = cached;
        for (int i = 0; i < 6; i++) {
            int v = vals[i];
            if (i == 0) {
                *q++ = (char)('0' + v / 1000);
                *q++ = (char)('0' + v / 100 % 10);
            }
            *q++ = (char)('0' + v / 10 % 10);
            *q++ = (char)('0' + v % 10);
            *q++ = seps[i];
        }
        cached_secs = secs;
    }
    memcpy(out, cached, sizeof cached);
    char *p = out + sizeof cached;
    for (int i = 5; i >= 0; i--) {
        p[i] = (char)('0' + us % 10);
        us /= 10;
    }
    p[6] = 'Z';
    p[7] = '\0';
}

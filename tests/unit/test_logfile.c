/*
 * test_logfile.c - the log writer's "whole or absent" contract without root: a file size limit
 * (RLIMIT_FSIZE, SIGXFSZ ignored) makes the kernel cut a batch's write short exactly as a full
 * disk does. The file must then hold only whole entries, the counters must say exactly which
 * (written = entries in the file, dropped = the rest), and after the limit is lifted new
 * entries must follow the last whole one, never a fragment. Also: a deleted log is recreated
 * at its path by the writer on its own (no reopen request).
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proxy/output/logfile.h"
#include "check.h"

#define N_FIRST 40
#define N_MORE  10
#define LIMIT   10000

static char entries[N_FIRST + N_MORE][800];

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (!f) {
        return NULL;
    }
    size_t cap = 1 << 20;
    char *buf = malloc(cap + 1);
    if (buf) {
        *len = fread(buf, 1, cap, f);
        buf[*len] = '\0';
    }
    fclose(f);
    return buf;
}

/* Waits (5 s at most) until the writer has dealt with `n` entries one way or the other. */
static void
settle(struct logfile *lf, uint64_t n)
{
    for (int i = 0; i < 500; i++) {
        if (logfile_entries_written(lf) + logfile_entries_dropped(lf) >= n) {
            return;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void
test_short_write(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/short.log", dir);
    for (int i = 0; i < N_FIRST + N_MORE; i++) {
        /* lengths 200..699: the limit falls inside an entry */
        int pad = 200 + (i * 137) % 500;
        int n = snprintf(entries[i], sizeof entries[i], "{\"entry\":%d,\"pad\":\"", i);
        memset(entries[i] + n, 'a' + i % 26, (size_t)pad);
        strcpy(entries[i] + n + pad, "\"}\n");
    }

    struct rlimit old;
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    struct rlimit lim = {.rlim_cur = LIMIT, .rlim_max = old.rlim_max};
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);

    struct logfile *lf = logfile_open(path, 0);
    struct logbuf *b = logbuf_new(lf);
    CHECK(lf && b);
    if (!lf || !b) {
        return;
    }
    for (int i = 0; i < N_FIRST; i++) {
        logbuf_append(b, entries[i], strlen(entries[i]));
    }
    logbuf_flush(b);
    settle(lf, N_FIRST);

    size_t len;
    char *text = slurp(path, &len);
    CHECK(text != NULL);
    uint64_t written = logfile_entries_written(lf), dropped = logfile_entries_dropped(lf);
    /* the file is exactly the first `written` entries, and holds less than the limit */
    size_t expect = 0;
    for (uint64_t i = 0; i < written; i++) {
        CHECK(text && memcmp(text + expect, entries[i], strlen(entries[i])) == 0);
        expect += strlen(entries[i]);
    }
    CHECK_EQ_U(len, expect);
    CHECK(len <= LIMIT);
    CHECK(written > 0);
    CHECK_EQ_U(written + dropped, N_FIRST);
    CHECK(dropped > 0);
    free(text);

    /* the disk "grows": what comes next follows the last whole entry */
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    for (int i = N_FIRST; i < N_FIRST + N_MORE; i++) {
        logbuf_append(b, entries[i], strlen(entries[i]));
    }
    logbuf_flush(b);
    settle(lf, N_FIRST + N_MORE);
    text = slurp(path, &len);
    CHECK_EQ_U(logfile_entries_written(lf), written + N_MORE);
    CHECK_EQ_U(logfile_entries_dropped(lf), dropped);
    size_t at = expect;
    for (int i = N_FIRST; i < N_FIRST + N_MORE; i++) {
        CHECK(text && len >= at + strlen(entries[i]) &&
              memcmp(text + at, entries[i], strlen(entries[i])) == 0);
        at += strlen(entries[i]);
    }
    CHECK_EQ_U(len, at);
    free(text);
    logbuf_free(b);
    logfile_close(lf);
    unlink(path);
}

static void
test_deleted(const char *dir)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/deleted.log", dir);
    struct logfile *lf = logfile_open(path, 0);
    struct logbuf *b = logbuf_new(lf);
    CHECK(lf && b);
    if (!lf || !b) {
        return;
    }
    logbuf_append(b, "one\n", 4);
    logbuf_flush(b);
    settle(lf, 1);
    CHECK(unlink(path) == 0);
    int waited = 0;
    while (stat(path, &st) != 0 && waited < 500) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        waited++;
    }
    CHECK(stat(path, &st) == 0);
    logbuf_append(b, "two\n", 4);
    logbuf_flush(b);
    settle(lf, 2);
    size_t len;
    char *text = slurp(path, &len);
    CHECK_STR(text, "two\n");
    free(text);
    logbuf_free(b);
    logfile_close(lf);
    unlink(path);
}

int
main(void)
{
    char dir[] = "/tmp/slowtap-logfile-XXXXXX";
    signal(SIGXFSZ, SIG_IGN); /* past the limit write(2) fails with EFBIG instead */
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_short_write(dir);
    test_deleted(dir);
    rmdir(dir);
    return check_exit();
}

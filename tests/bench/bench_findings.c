/*
 * bench_findings.c - instruction cost of the per-statement work issue 14 added to record()
 * (the comment test before tag parsing, the parameter hash and the unit-of-work / N+1 step),
 * beside the work record() already did (one lexer pass and the per-shape statistics), for a
 * statement without comments. Run under callgrind: `bench_findings 0` (old work only) and
 * `bench_findings 1` (old + new); the difference of the instruction counts over the
 * iterations is the added cost. Built by hand from a build directory's libraries:
 *   gcc -O2 -std=c11 -I. -o bench tests/bench/bench_findings.c build/libslowtap_core.a \
 *       build/libslowtap_protocol.a $(pkg-config --libs libevent libevent_pthreads \
 *       libevent_openssl openssl libmariadb libpcre2-8 inih jansson libzstd zlib) -lpthread -lm
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null ./bench 0 100000   (and 1)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/proto_fingerprint.h"
#include "proxy/account/findings.h"
#include "proxy/account/stats.h"

int
main(int argc, char **argv)
{
    int with_new = argc > 1 && atoi(argv[1]) != 0;
    int iters = argc > 2 ? atoi(argv[2]) : 200000;
    const char *sql = "SELECT students.id AS students_id, students.name AS students_name, "
                      "students.class_id AS students_class_id FROM students WHERE 3 = "
                      "students.class_id";
    size_t len = strlen(sql);
    struct stats *st = stats_new(1000);
    struct stats_local *sl = stats_local_new(st, 1024);
    struct findings_table *ft = findings_table_new();
    struct findings_conf fc = {.request_gap_us = 50000, .n_plus_one_min = 5, .table = ft};
    struct findings_sess fs;
    findings_sess_init(&fs, &fc);
    char fp[1024];
    uint64_t sink = 0;
    for (int i = 0; i < iters; i++) {
        struct proto_stmt_info info;
        proto_stmt_analyze(sql, len, 0, fp, sizeof fp, NULL, 0, &info);
        struct stats_sample sm = {.digest = info.digest,
                                  .fingerprint = fp,
                                  .fingerprint_len = strlen(fp),
                                  .example = sql,
                                  .example_len = len,
                                  .query_us = 100,
                                  .wall_us = i};
        stats_local_record(sl, &sm);
        if (with_new) {
            bool comment = findings_has_comment(sql, len);
            struct findings_stmt f = {.digest = info.digest,
                                      .params = findings_hash(sql, len, comment) + (uint64_t)i,
                                      .query_us = 100,
                                      .start_us = (int64_t)i * 200,
                                      .end_us = (int64_t)i * 200 + 100,
                                      .wall_us = i,
                                      .candidate = true};
            struct findings_mark m;
            findings_sess_stmt(&fs, &f, &m);
            sink += m.count;
        }
    }
    findings_sess_end(&fs, 0);
    printf("%llu\n", (unsigned long long)sink);
    stats_local_free(sl);
    stats_free(st);
    findings_table_free(ft);
    return 0;
}

/*
 * report_ch.c - the fleet report over ClickHouse (report_ch.h).
 */
#include "report/report_ch.h"

#include <string.h>

#include "common/churl.h"

bool
report_ch_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (churl_is(argv[i])) {
            return true;
        }
    }
    return false;
}

int
report_ch_main(int argc, char **argv, FILE *out, FILE *err)
{
    (void)argc;
    (void)argv;
    (void)out;
    fprintf(err, "slowtap report: clickhouse: not yet\n");
    return 2;
}

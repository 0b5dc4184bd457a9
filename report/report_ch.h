/*
 * report_ch.h - `slowtap report clickhouse://... [--since TIME] [--top N] [--group-by KEY]
 * [--format table|json]`: ranks statement shapes across every instance shipping to ClickHouse
 * (--sink), from the per-minute aggregate (clickhouse/chclient.h's schema).
 */
#ifndef SLOWTAP_REPORT_CH_H
#define SLOWTAP_REPORT_CH_H

#include <stdbool.h>
#include <stdio.h>

/* True when the arguments name a ClickHouse address (then report_ch_main takes them). */
bool report_ch_wanted(int argc, char **argv);

/* argv[0] is "report". Returns the exit status (0; 1 when ClickHouse fails; 2 on a usage
 * error, with one line on `err`). */
int report_ch_main(int argc, char **argv, FILE *out, FILE *err);

#endif

/*
 * report.h - `slowtap report [--top N] [--since TIME] [--format table|json] FILE...`: reads
 * slow logs (slowtap's own, text or JSON, and MySQL/MariaDB server slow logs) and prints the
 * statement shapes ranked by total time with count, percentiles, rows and full scans.
 */
#ifndef SLOWTAP_REPORT_H
#define SLOWTAP_REPORT_H

#include <stdio.h>

/* argv[0] is "report". Returns the process exit status: 0, or 2 on a usage error, a file that
 * cannot be read or is not a slow log (text in it, no entry). */
int report_main(int argc, char **argv, FILE *out, FILE *err);

#endif

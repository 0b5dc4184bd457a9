/*
 * report_ch.c - the fleet report over ClickHouse (report_ch.h): one query to the per-minute
 * aggregate (statements_1m, clickhouse/chclient.h) grouped by shape (and --group-by key),
 * answered as JSONEachRow and read with jansson, printed as a table like the report over a log
 * or as JSON. Below each shape in the table: the instances and routes it came from.
 */
#include "report/report_ch.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "clickhouse/chclient.h"
#include "common/churl.h"
#include "common/jsonw.h"

#define REPORT_CH_TIMEOUT_MS 30000

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

static void
report_ch_usage(FILE *out)
{
    fprintf(out,
            "Usage: slowtap report clickhouse://[USER@]HOST:PORT/DATABASE [OPTION]...\n"
            "Ranks statement shapes across every slowtap that ships to ClickHouse (--sink), by\n"
            "total time, from the per-minute aggregate table statements_1m.\n"
            "\n"
            "  --top N               shapes (or groups) to show, 0 for all (default 10)\n"
            "  --since TIME          only minutes at or after TIME: relative 45s, 30m, 2h, 1d,\n"
            "                        1w, or 2026-11-24T21:00:00[Z] (default 24h); whole\n"
            "                        minutes: the minute TIME falls in counts\n"
            "  --group-by KEY        shape (default), instance, route, user or schema: rank\n"
            "                        (KEY, shape) pairs\n"
            "  --format table|json   output format (default table)\n"
            "  --help                print this help and exit\n"
            "\n"
            "The password is taken from $SLOWTAP_SINK_PASSWORD, else the address. Columns as\n"
            "in the report over a log: count, total seconds, average and p95 milliseconds (p95\n"
            "is ClickHouse's quantileTiming: approximate), rows sent, rows examined, errors,\n"
            "flags (scan, join, tmp, sort with the number of statements; noidx), fingerprint;\n"
            "then the instances and routes each shape came from, its plan and index advice.\n");
}

/* --since as a ClickHouse expression into out. False when malformed. */
static bool
report_ch_since(const char *s, char *out, size_t cap)
{
    size_t n = strlen(s);
    if (n == 0 || n > 40) {
        return false;
    }
    char unit = s[n - 1];
    bool digits = true;
    for (size_t i = 0; i + 1 < n; i++) {
        digits &= s[i] >= '0' && s[i] <= '9';
    }
    long mult = unit == 's'   ? 1
                : unit == 'm' ? 60
                : unit == 'h' ? 3600
                : unit == 'd' ? 86400
                              : 604800;
    if (digits && n > 1 && strchr("smhdw", unit)) {
        long v = strtol(s, NULL, 10);
        snprintf(out, cap, "now() - %ld", v * mult);
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        if (!strchr("0123456789-:TZ. ", s[i])) {
            return false;
        }
    }
    if (n < 10) {
        return false;
    }
    snprintf(out, cap, "parseDateTimeBestEffort('%s')", s);
    return true;
}

static const char *
report_ch_str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static double
report_ch_num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (json_is_number(v)) {
        return json_number_value(v);
    }
    if (json_is_string(v)) {
        return strtod(json_string_value(v), NULL);
    }
    return 0;
}

static double
report_ch_q(json_t *o, size_t i)
{
    json_t *a = json_object_get(o, "q");
    json_t *v = json_array_get(a, i);
    return json_is_number(v) ? json_number_value(v) : 0;
}

/* "scan:3,sort" from the flag counts (":N" when not in every statement). */
static void
report_ch_flags(json_t *o, char *out, size_t cap)
{
    static const char *const keys[] = {"full_scan", "full_join", "tmp_table", "filesort",
                                       "no_index_used"};
    static const char *const names[] = {"scan", "join", "tmp", "sort", "noidx"};
    double n = report_ch_num(o, "count");
    size_t off = 0;
    out[0] = '\0';
    for (int i = 0; i < 5; i++) {
        double c = report_ch_num(o, keys[i]);
        if (c <= 0 || off + 1 >= cap) {
            continue;
        }
        int m = c >= n ? snprintf(out + off, cap - off, "%s%s", off ? "," : "", names[i])
                       : snprintf(out + off, cap - off, "%s%s:%.0f", off ? "," : "", names[i], c);
        off += m > 0 ? (size_t)m : 0;
    }
    if (!out[0]) {
        snprintf(out, cap, "-");
    }
}

/* A JSON array of strings as "a, b, c". */
static void
report_ch_list(FILE *out, json_t *a)
{
    size_t i;
    json_t *v;
    bool any = false;
    json_array_foreach(a, i, v)
    {
        const char *s = json_string_value(v);
        fprintf(out, "%s%s", any ? ", " : "", s && s[0] ? s : "(none)");
        any = true;
    }
}

static void
report_ch_table(FILE *out, json_t *rows, const char *group)
{
    double total = 0, entries = 0;
    size_t i;
    json_t *o;
    json_array_foreach(rows, i, o)
    {
        total += report_ch_num(o, "total_us") / 1e6;
        entries += report_ch_num(o, "count");
    }
    fprintf(out, "# %.0f statements, %zu %s, %.3f s total (across instances); by total time\n",
            entries, json_array_size(rows), group ? "groups" : "shapes", total);
    if (group) {
        fprintf(out, "%4s %-16s ", "rank", group);
    } else {
        fprintf(out, "%4s ", "rank");
    }
    fprintf(out, "%-8s %6s %8s %7s %7s %7s %7s %4s %-10s fingerprint\n", "digest", "count",
            "total_s", "avg_ms", "p95_ms", "rows", "exam", "errs", "flags");
    json_array_foreach(rows, i, o)
    {
        char flags[64], dig[9];
        double n = report_ch_num(o, "count");
        snprintf(dig, sizeof dig, "%s", report_ch_str(o, "digest"));
        report_ch_flags(o, flags, sizeof flags);
        fprintf(out, "%4zu ", i + 1);
        if (group) {
            const char *k = report_ch_str(o, "key");
            fprintf(out, "%-16.16s ", k[0] ? k : "(none)");
        }
        char exam[24] = "?"; /* unknown unless performance_schema gave it (as a log's report) */
        if (report_ch_num(o, "rows_examined_known") > 0) {
            snprintf(exam, sizeof exam, "%.0f%s", report_ch_num(o, "rows_examined"),
                     report_ch_num(o, "rows_examined_known") < n ? "+?" : "");
        }
        fprintf(out, "%-8s %6.0f %8.3f %7.1f %7.1f %7.0f %7s %4.0f %-10s %.60s\n", dig, n,
                report_ch_num(o, "total_us") / 1e6,
                n > 0 ? report_ch_num(o, "total_us") / n / 1000 : 0, report_ch_q(o, 1) / 1000,
                report_ch_num(o, "rows_sent"), exam, report_ch_num(o, "errors"), flags,
                report_ch_str(o, "fingerprint"));
        fprintf(out, "     instances: ");
        report_ch_list(out, json_object_get(o, "instances"));
        fprintf(out, "; routes: ");
        report_ch_list(out, json_object_get(o, "routes"));
        fputc('\n', out);
        if (report_ch_str(o, "plan")[0]) {
            fprintf(out, "     plan: %s\n", report_ch_str(o, "plan"));
        }
        if (report_ch_str(o, "advice")[0]) {
            fprintf(out, "     advice: %s\n", report_ch_str(o, "advice"));
        }
    }
}

static void
report_ch_sink(void *ctx, const char *s, size_t n)
{
    fwrite(s, 1, n, ctx);
}

static void
report_ch_json(FILE *out, json_t *rows, const char *group)
{
    struct jsonw w;
    size_t i;
    json_t *o;
    jsonw_init(&w, report_ch_sink, out, JSONW_PRETTY);
    jsonw_array_begin(&w);
    json_array_foreach(rows, i, o)
    {
        double n = report_ch_num(o, "count");
        jsonw_object_begin(&w);
        if (group) {
            jsonw_kstr(&w, group, report_ch_str(o, "key"));
        }
        jsonw_kstr(&w, "digest", report_ch_str(o, "digest"));
        jsonw_kstr(&w, "fingerprint", report_ch_str(o, "fingerprint"));
        jsonw_kuint(&w, "count", (uint64_t)n);
        jsonw_ksecs(&w, "total", (int64_t)report_ch_num(o, "total_us"));
        jsonw_kdouble(&w, "avg", n > 0 ? report_ch_num(o, "total_us") / n / 1e6 : 0);
        jsonw_ksecs(&w, "min", (int64_t)report_ch_num(o, "min_us"));
        jsonw_ksecs(&w, "max", (int64_t)report_ch_num(o, "max_us"));
        jsonw_ksecs(&w, "p50", (int64_t)report_ch_q(o, 0));
        jsonw_ksecs(&w, "p95", (int64_t)report_ch_q(o, 1));
        jsonw_ksecs(&w, "p99", (int64_t)report_ch_q(o, 2));
        jsonw_ksecs(&w, "queue_total", (int64_t)report_ch_num(o, "queue_us"));
        static const char *const nums[] = {"rows_sent", "rows_affected", "bytes_sent",
                                           "errors",    "no_index_used", "full_scan",
                                           "full_join", "tmp_table",     "filesort"};
        for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++) {
            jsonw_kuint(&w, nums[k], (uint64_t)report_ch_num(o, nums[k]));
        }
        /* rows examined over the statements whose figure slowtap learnt; null when none */
        if (report_ch_num(o, "rows_examined_known") > 0) {
            jsonw_kuint(&w, "rows_examined", (uint64_t)report_ch_num(o, "rows_examined"));
        } else {
            jsonw_knull(&w, "rows_examined");
        }
        jsonw_kuint(&w, "rows_examined_known", (uint64_t)report_ch_num(o, "rows_examined_known"));
        const char *plan = report_ch_str(o, "plan"), *adv = report_ch_str(o, "advice");
        jsonw_kstr(&w, "plan", plan[0] ? plan : NULL);
        jsonw_kstr(&w, "index_advice", adv[0] ? adv : NULL);
        jsonw_kstr(&w, "first_seen", report_ch_str(o, "first_seen"));
        jsonw_kstr(&w, "last_seen", report_ch_str(o, "last_seen"));
        const char *lists[] = {"instances", "routes"};
        for (int l = 0; l < 2; l++) {
            size_t j;
            json_t *v;
            jsonw_key(&w, lists[l]);
            jsonw_array_begin(&w);
            json_array_foreach(json_object_get(o, lists[l]), j, v)
            {
                jsonw_string(&w, json_string_value(v));
            }
            jsonw_array_end(&w);
        }
        jsonw_object_end(&w);
    }
    jsonw_array_end(&w);
    jsonw_flush(&w);
    fputc('\n', out);
}

int
report_ch_main(int argc, char **argv, FILE *out, FILE *err)
{
    static const struct option lo[] = {
        {"top", required_argument, NULL, 't'},    {"since", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'}, {"group-by", required_argument, NULL, 'g'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    static const char *const groups[] = {"instance", "route", "user", "schema"};
    const char *url = NULL, *group = NULL;
    char since[96] = "now() - 86400";
    long top = 10;
    bool json = false;
    int rc;
    opterr = 0;
    optind = 0;
    while ((rc = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
        const char *arg = optind >= 1 && optind - 1 < argc ? argv[optind - 1] : "?";
        char *end;
        switch (rc) {
        case 't':
            top = strtol(optarg, &end, 10);
            if (*end || end == optarg || top < 0 || top > 1000000) {
                fprintf(err, "slowtap report: --top: invalid number '%s'\n", optarg);
                return 2;
            }
            break;
        case 's':
            if (!report_ch_since(optarg, since, sizeof since)) {
                fprintf(err,
                        "slowtap report: --since: invalid time '%s' (expected "
                        "2026-11-24T21:00:00 or 30m/2h/1d)\n",
                        optarg);
                return 2;
            }
            break;
        case 'f':
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0) {
                fprintf(err,
                        "slowtap report: --format: invalid value '%s' (expected table or json)\n",
                        optarg);
                return 2;
            }
            json = strcmp(optarg, "json") == 0;
            break;
        case 'g':
            group = NULL;
            for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
                if (strcmp(optarg, groups[i]) == 0) {
                    group = groups[i];
                }
            }
            if (!group && strcmp(optarg, "shape") != 0) {
                fprintf(err,
                        "slowtap report: --group-by: invalid value '%s' (expected shape, "
                        "instance, route, user or schema)\n",
                        optarg);
                return 2;
            }
            break;
        case 'h':
            report_ch_usage(out);
            return 0;
        case ':':
            fprintf(err, "slowtap report: %.*s: missing argument\n", (int)strcspn(arg, "="), arg);
            return 2;
        default:
            fprintf(err, "slowtap report: unknown option '%.*s'\n", (int)strcspn(arg, "="), arg);
            return 2;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (url || !churl_is(argv[i])) {
            fprintf(err, "slowtap report: one clickhouse:// address and no log files\n");
            return 2;
        }
        url = argv[i];
    }
    struct churl u;
    const char *why;
    if (!url || !churl_parse(url, &u, &why)) {
        fprintf(err, "slowtap report: clickhouse address: %s\n", url ? why : "missing");
        return 2;
    }
    char disp[300];
    churl_display(&u, disp, sizeof disp);

    size_t qcap = 4096;
    char *q = malloc(qcap);
    if (!q) {
        fprintf(err, "slowtap report: out of memory\n");
        return 1;
    }
    char limit[32] = "";
    if (top > 0) {
        snprintf(limit, sizeof limit, " LIMIT %ld", top);
    }
    snprintf(q, qcap,
             "SELECT %s%s digest, anyMerge(fingerprint) AS fingerprint, countMerge(count) AS count,"
             " sumMerge(total_us) AS total_us, minMerge(min_us) AS min_us,"
             " maxMerge(max_us) AS max_us,"
             " quantilesTimingMerge(0.5, 0.95, 0.99)(quantiles_us) AS q,"
             " sumMerge(queue_us) AS queue_us,"
             " sumMerge(rows_sent) AS rows_sent, sumMerge(rows_examined_sum) AS rows_examined,"
             " sumMerge(rows_examined_known) AS rows_examined_known,"
             " sumMerge(rows_affected) AS rows_affected, sumMerge(bytes_sent) AS bytes_sent,"
             " sumMerge(errors) AS errors, sumMerge(no_index_used) AS no_index_used,"
             " sumMerge(full_scan) AS full_scan, sumMerge(full_join) AS full_join,"
             " sumMerge(tmp_table) AS tmp_table, sumMerge(filesort) AS filesort,"
             " anyLastMerge(plan_summary) AS plan, anyLastMerge(index_advice) AS advice,"
             " toString(minMerge(first_seen)) AS first_seen,"
             " toString(maxMerge(last_seen)) AS last_seen,"
             " arraySort(groupUniqArray(instance)) AS instances,"
             " arraySort(groupUniqArray(route)) AS routes"
             " FROM %s." CHSCHEMA_AGG " WHERE minute >= toStartOfMinute(%s)"
             " GROUP BY %s%sdigest ORDER BY total_us DESC, digest%s FORMAT JSONEachRow",
             group ? group : "", group ? " AS key," : "", u.database, since, group ? group : "",
             group ? ", " : "", limit);

    struct chclient *c = chclient_new(&u, getenv("SLOWTAP_SINK_PASSWORD"));
    struct chclient_result res;
    if (!c) {
        fprintf(err, "slowtap report: cannot start the HTTP client\n");
        free(q);
        return 1;
    }
    bool ok = chclient_post(c, q, NULL, 0, REPORT_CH_TIMEOUT_MS, true, &res);
    chclient_free(c);
    free(q);
    if (!ok) {
        fprintf(err, "slowtap report: %s: %s\n", disp, res.err);
        chclient_result_free(&res);
        return 1;
    }
    json_t *rows = json_array();
    for (char *line = res.body; line && *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (n) {
            json_error_t je;
            json_t *o = json_loadb(line, n, 0, &je);
            if (!o) {
                fprintf(err, "slowtap report: %s: cannot read the answer: %s\n", disp, je.text);
                json_decref(rows);
                chclient_result_free(&res);
                return 1;
            }
            json_array_append_new(rows, o);
        }
        line = nl ? nl + 1 : NULL;
    }
    chclient_result_free(&res);
    if (json) {
        report_ch_json(out, rows, group);
    } else {
        report_ch_table(out, rows, group);
    }
    json_decref(rows);
    return ferror(out) ? 1 : 0;
}

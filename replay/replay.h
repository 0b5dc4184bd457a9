/*
 * replay.h - `slowtap replay` and `slowtap whatif`: a capture (protocol/proto_capture.h) played
 * again against one or two target servers, each captured session on its own connection, and
 * the comparison of the runs per shape and per route (issue 27).
 *
 * Layers: common, protocol, explain (plan and advice) <- replay. The engine (replay_run.c)
 * drives libmariadb's non-blocking API on a libevent loop; the comparison, EXPLAIN and the
 * whatif DDL (replay_main.c) run after the loop, on blocking connections (an offline command).
 * replay_util.c is pure: the target URI and the statistics.
 */
#ifndef SLOWTAP_REPLAY_H
#define SLOWTAP_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- target URI: mysql://user[:password]@host[:port][/schema] ---- */

#define REPLAY_URI_FIELD 256

struct replay_uri {
    char user[REPLAY_URI_FIELD];
    char password[REPLAY_URI_FIELD];
    bool has_password;
    char host[REPLAY_URI_FIELD];
    unsigned port; /* 3306 when absent */
    char schema[REPLAY_URI_FIELD];
};

/* Parses s (percent-escapes decoded in user, password and schema). False with a reason in
 * err (never the password) when malformed: another scheme, no user, no host, a bad port. */
bool replay_uri_parse(const char *s, struct replay_uri *u, char *err, size_t errcap);

/* ---- statistics ---- */

/* The q-quantile (0..1, nearest rank) of v[0..n), which it sorts; 0 when n is 0. */
double replay_quantile(double *v, size_t n, double q);

/* Mann-Whitney U test of a[0..na) against b[0..nb) (normal approximation with the tie
 * correction): the two-sided p-value (1 when either side is empty). */
double replay_mwu_p(const double *a, size_t na, const double *b, size_t nb);

enum replay_verdict {
    REPLAY_SAME = 0,
    REPLAY_FASTER, /* b faster than a */
    REPLAY_SLOWER,
    REPLAY_FEW, /* fewer than REPLAY_MIN_SAMPLES executions on a side: no verdict */
};

#define REPLAY_MIN_SAMPLES 5
/* Two identical copies replayed a thread each on a loaded 2-core machine showed medians apart
 * by 0.66x to 2.3x with p < 0.001 (the machine's other work, for seconds at a time; lockstep,
 * replay_run_sides, keeps them closer): a change must be at least 2x to be called one; the
 * ratio is always shown. */
#define REPLAY_P_MAX      0.001 /* the Mann-Whitney p-value below which a change is real ... */
#define REPLAY_RATIO_FAST 0.5   /* ... and material: median ratio b/a below this ... */
#define REPLAY_RATIO_SLOW 2.0   /* ... or above this ... */
/* ... and medians 150 us apart at least: loopback and scheduling put a steady offset between
 * two identical copies (a 35 us lookup measured at 110 us on one copy, 3 runs in a row, at
 * p < 0.001; a 20 us COMMIT at 45 us) */
#define REPLAY_MIN_DIFF_US 150.0

/*
 * The rule: a (baseline) and b (the other target) are per-execution times. FEW when either has
 * fewer than REPLAY_MIN_SAMPLES; FASTER when the Mann-Whitney p-value is below REPLAY_P_MAX,
 * median(b)/median(a) below REPLAY_RATIO_FAST and the medians REPLAY_MIN_DIFF_US apart, SLOWER
 * likewise above REPLAY_RATIO_SLOW, else SAME. With repeated runs (nruns >= 2; run_a/run_b the
 * per-run medians), FASTER also needs
 * every run of b to have a lower median than every run of a (and SLOWER the opposite): the
 * runs' spread must not overlap. The arrays are not modified.
 */
enum replay_verdict replay_decide(const double *a, size_t na, const double *b, size_t nb,
                                  const double *run_a, const double *run_b, size_t nruns);
const char *replay_verdict_name(enum replay_verdict v);

/* How a statement is treated by a read-only replay: true for a write (anything but SELECT,
 * SHOW, SET, USE, DESCRIBE, EXPLAIN, HELP, DO and the transaction words). sqlmode PROTO_SQLMODE_*. */
bool replay_is_write(const char *sql, size_t len, unsigned sqlmode);
/* Why a statement's result cannot be expected equal on a replay, or NULL: it calls a function
 * of the clock, of chance, of the session's identity or of the previous statement (NOW(),
 * RAND(), UUID(), CONNECTION_ID(), CURRENT_USER(), LAST_INSERT_ID() ...: a WORD token followed
 * by `(`, or CURRENT_TIMESTAMP-like words alone), reads a server-identity variable (@@hostname,
 * @@server_id, @@port ...), a server-state table (information_schema.PROCESSLIST ...) or is a
 * SHOW of server state (SHOW STATUS, SHOW GRANTS ...). Found with the SQL lexer: words in
 * strings, comments and quoted identifiers do not count. The reason is a static string. */
const char *replay_unstable(const char *sql, size_t len, unsigned sqlmode);

/* True for the data changes a rolled-back replay may run: INSERT, REPLACE, UPDATE, DELETE. */
bool replay_is_dml(const char *sql, size_t len, unsigned sqlmode);

/* ---- the capture in memory ---- */

struct replay_param {
    uint8_t type;
    bool is_unsigned;
    bool is_null;
    uint8_t *value;
    size_t len;
};

struct replay_cmd {
    int64_t t_start_us, t_end_us;
    uint8_t cmd;
    char *text; /* COM_QUERY / COM_STMT_PREPARE text, COM_INIT_DB schema; NULL otherwise */
    size_t text_len;
    const char *schema; /* the session's schema when the command was sent ("" none) */
    uint32_t stmt_id, prepare_id;
    uint16_t n_params;
    struct replay_param *params;
    /* the captured answer */
    uint16_t err;
    uint64_t rows, affected, checksum;
    bool interrupted;
    bool cut; /* the capture holds only part of it (its text, or its prepare's text, or a
                 parameter: proto_cap_command.cut): not replayed */
    /* derived at load */
    const char *stmt; /* the statement: text, or for an execute its prepare's text */
    size_t stmt_len;
    uint64_t digest;      /* shape (0: no statement) */
    bool write;           /* replay_is_write */
    bool dml;             /* replay_is_dml */
    uint64_t seq;         /* the command's number in its session (the capture's) */
    const char *unstable; /* replay_unstable: why its result may differ, or NULL */
};

/* A LOAD DATA LOCAL file's content, for the command seq of its session. */
struct replay_file {
    uint64_t seq;
    uint8_t *data;
    size_t len;
};

struct replay_session {
    uint64_t id;
    uint32_t thread_id; /* on the captured server (KILL n names it) */
    struct replay_file *files;
    size_t nfiles;
    int64_t t_us;
    uint8_t charset;
    char *user, *schema, *sql_mode;
    bool sql_mode_set;
    struct replay_cmd *cmds;
    size_t ncmds, cap;
};

struct replay_cap {
    int64_t t0; /* the earliest time in the capture */
    struct replay_session *s;
    size_t ns;
    size_t ncmds;
    char **schemas; /* interned */
    size_t nschemas;
};

/* Reads a capture file. False with a reason in err. A file cut short ends at its last whole
 * block (as the format says). */
bool replay_cap_load(const char *path, struct replay_cap *cap, char *err, size_t errcap);
void replay_cap_free(struct replay_cap *cap);

/* ---- one run against one target ---- */

enum replay_mode {
    REPLAY_READ_ONLY = 0, /* writes skipped */
    REPLAY_WRITES,        /* everything as captured */
    REPLAY_ROLLBACK,      /* each INSERT/REPLACE/UPDATE/DELETE run and rolled back; other
                           * writes skipped: the data stays as it was (whatif) */
};

enum replay_outcome {
    REPLAY_NOT_RUN = 0,
    REPLAY_RAN,
    REPLAY_SKIPPED_WRITE,
    REPLAY_UNSUPPORTED, /* a command this replay cannot send (COM_CHANGE_USER ...) */
    REPLAY_NO_SESSION,  /* the session's connect failed */
};

/* Why a command was not replayed (replay_res.why): one line each, the report's groups. */
#define REPLAY_WHY_CUT_TEXT                                                                        \
    "the captured text was cut (a statement longer than the 1 MiB slowtap keeps)"
#define REPLAY_WHY_CUT_PARAM                                                                       \
    "a captured parameter was cut (long data past the 1 KiB slowtap keeps, or an execute past 64 " \
    "MiB)"
#define REPLAY_WHY_NO_PREPARE     "its statement was prepared before the capture began"
#define REPLAY_WHY_PREPARE_FAILED "its prepare failed on the target"
#define REPLAY_WHY_BIND           "its parameters could not be bound"
#define REPLAY_WHY_BULK           "bulk execute parameters are not captured (COM_STMT_BULK_EXECUTE)"
#define REPLAY_WHY_COMMAND        "a command the replay does not send"

struct replay_res {
    uint8_t outcome; /* enum replay_outcome */
    bool checked;    /* a result checksum was computed */
    uint16_t err;
    int64_t us; /* time on the target */
    uint64_t rows, affected, checksum;
    const char *why; /* REPLAY_UNSUPPORTED: the reason, a static string */
    int64_t lag_us;  /* it started this late behind the captured timeline (0: on time or
                        --no-wait) */
    int64_t t0_mono; /* REPLAY_RAN: monotonic us when it was sent (its end: t0_mono + us) */
};

struct replay_opts {
    enum replay_mode mode;
    double speed;  /* gaps divided by speed; 0 = --no-wait */
    bool in_order; /* --in-order: a command also waits until every command (any session, same
                      target) that had ended before it began in the capture has ended */
    bool progress;
    FILE *err; /* progress and notes */
};

struct replay_run {
    struct replay_res **res; /* res[session][command] */
    size_t ns;
    uint64_t ran, skipped_write, unsupported, errors, connect_failed;
    char first_connect_err[256];
    double wall_s;
};

/* Replays cap against target u; fills run (freed with replay_run_free). False only when the
 * engine could not start (out of memory, no event base). */
bool replay_run(const struct replay_cap *cap, const struct replay_uri *u,
                const struct replay_opts *o, struct replay_run *run);
void replay_run_free(struct replay_run *run);
/* Replays cap against nsides (1 or 2) targets at once, into runs[0..nsides): with two, each
 * captured session runs in lockstep on both (each command on one target then at once on the
 * other, alternating which goes first; the next command when both answered), so that both
 * meet the same moments of the machine's load. */
bool replay_run_sides(const struct replay_cap *cap, const struct replay_uri *const *u, int nsides,
                      const struct replay_opts *o, struct replay_run *runs);

/* The checksum of a text result row as the capture defines it (FNV-1a 64 over the row packet's
 * payload: each field as a length-encoded string, 0xFB for NULL), continued from h. */
uint64_t replay_text_row_sum(uint64_t h, char **row, const unsigned long *lens, unsigned n);

/* The entry points: argv[0] is "replay" / "whatif". Exit status 0, 1 (failure), 2 (usage). */
int replay_main(int argc, char **argv, FILE *out, FILE *err);
int whatif_main(int argc, char **argv, FILE *out, FILE *err);

#endif

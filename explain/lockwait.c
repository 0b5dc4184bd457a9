/*
 * lockwait.c - lock-wait queries and the parsing of their rows; see lockwait.h. Column names
 * are the contract between the two: both queries alias their columns to the same names.
 */
#include "explain/lockwait.h"

#include "protocol/proto_sqllex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *
lockwait_kind_name(enum lockwait_kind k)
{
    switch (k) {
    case LOCKWAIT_ROW:
        return "row";
    case LOCKWAIT_TABLE:
        return "table";
    case LOCKWAIT_METADATA:
        return "metadata";
    default:
        return NULL;
    }
}

/*
 * MariaDB: the waiting thread's state from PROCESSLIST, and when its transaction waits for an
 * InnoDB lock, the blocking transaction's thread and the requested lock. TIME_MS is how long
 * the statement has run, wait_us how long the lock wait lasts (trx_wait_started has whole
 * seconds only, so the statement's time bounds it).
 */
static const char mariadb_q[] =
    "SELECT p.STATE AS state, p.TIME_MS * 1000 AS run_us, "
    "LEAST(TIMESTAMPDIFF(MICROSECOND, r.trx_wait_started, NOW(6)), p.TIME_MS * 1000) AS wait_us, "
    "b.trx_mysql_thread_id AS blocked_by, l.lock_table AS lock_table, "
    "l.lock_index AS lock_index, l.lock_mode AS lock_mode, l.lock_type AS lock_type "
    "FROM information_schema.PROCESSLIST p "
    "LEFT JOIN information_schema.INNODB_TRX r ON r.trx_mysql_thread_id = p.ID "
    "LEFT JOIN information_schema.INNODB_LOCK_WAITS w ON w.requesting_trx_id = r.trx_id "
    "LEFT JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id "
    "LEFT JOIN information_schema.INNODB_LOCKS l ON l.lock_id = w.requested_lock_id "
    "WHERE p.ID = %u";

/*
 * MySQL 8: performance_schema maps connection ids to thread ids; data_lock_waits names the
 * blocking engine transaction's thread, data_locks the table, index and mode; a metadata lock
 * wait shows as a PENDING row of metadata_locks (whose GRANTED owner is the blocker).
 */
static const char mysql_q[] =
    "SELECT t.PROCESSLIST_STATE AS state, t.PROCESSLIST_TIME * 1000000 AS run_us, "
    "NULL AS wait_us, bt.PROCESSLIST_ID AS blocked_by, "
    "CONCAT('`', l.OBJECT_SCHEMA, '`.`', l.OBJECT_NAME, '`') AS lock_table, "
    "l.INDEX_NAME AS lock_index, l.LOCK_MODE AS lock_mode, l.LOCK_TYPE AS lock_type "
    "FROM performance_schema.threads t "
    "LEFT JOIN performance_schema.data_lock_waits w ON w.REQUESTING_THREAD_ID = t.THREAD_ID "
    "LEFT JOIN performance_schema.data_locks l ON l.ENGINE_LOCK_ID = w.REQUESTING_ENGINE_LOCK_ID "
    "LEFT JOIN performance_schema.threads bt ON bt.THREAD_ID = w.BLOCKING_THREAD_ID "
    "WHERE t.PROCESSLIST_ID = %u "
    "UNION ALL "
    "SELECT t.PROCESSLIST_STATE, NULL, NULL, gt.PROCESSLIST_ID, "
    "CONCAT('`', m.OBJECT_SCHEMA, '`.`', m.OBJECT_NAME, '`'), NULL, m.LOCK_TYPE, 'METADATA' "
    "FROM performance_schema.threads t "
    "JOIN performance_schema.metadata_locks m ON m.OWNER_THREAD_ID = t.THREAD_ID "
    "AND m.LOCK_STATUS = 'PENDING' "
    "LEFT JOIN performance_schema.metadata_locks g ON g.OBJECT_TYPE = m.OBJECT_TYPE "
    "AND g.OBJECT_SCHEMA <=> m.OBJECT_SCHEMA AND g.OBJECT_NAME <=> m.OBJECT_NAME "
    "AND g.LOCK_STATUS = 'GRANTED' AND g.OWNER_THREAD_ID <> t.THREAD_ID "
    "LEFT JOIN performance_schema.threads gt ON gt.THREAD_ID = g.OWNER_THREAD_ID "
    "WHERE t.PROCESSLIST_ID = %u";

size_t
lockwait_query(bool mariadb, uint32_t thread_id, char *out, size_t cap)
{
    int n = mariadb ? snprintf(out, cap, mariadb_q, thread_id)
                    : snprintf(out, cap, mysql_q, thread_id, thread_id);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void
copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static const char *
col(const char *const *names, const char *const *vals, unsigned n, const char *name)
{
    for (unsigned i = 0; i < n; i++) {
        if (names[i] && strcasecmp(names[i], name) == 0) {
            return vals[i];
        }
    }
    return NULL;
}

uint64_t
lockwait_total_us(const struct lockwait *lw, int64_t start_wall_us, uint64_t query_us)
{
    int64_t end = start_wall_us + (int64_t)query_us;
    int64_t began = lw->asked_wall_us - (int64_t)lw->wait_us;
    if (!lw->asked_wall_us || began < start_wall_us) {
        began = start_wall_us;
    }
    return end > began ? (uint64_t)(end - began) : lw->wait_us;
}

void
lockwait_add_row(struct lockwait *lw, const char *const *names, const char *const *vals, unsigned n)
{
    const char *state = col(names, vals, n, "state");
    const char *type = col(names, vals, n, "lock_type");
    const char *by = col(names, vals, n, "blocked_by");
    const char *wait = col(names, vals, n, "wait_us");
    const char *run = col(names, vals, n, "run_us");
    const char *table = col(names, vals, n, "lock_table");

    if (state && !lw->state[0]) {
        copy(lw->state, sizeof lw->state, state);
    }
    enum lockwait_kind kind = LOCKWAIT_NONE;
    if (type && strcasecmp(type, "METADATA") == 0) {
        kind = LOCKWAIT_METADATA;
    } else if (type && strcasecmp(type, "TABLE") == 0) {
        kind = LOCKWAIT_TABLE;
    } else if (type && strcasecmp(type, "RECORD") == 0) {
        kind = LOCKWAIT_ROW;
    } else if (by) {
        kind = LOCKWAIT_ROW; /* a blocker without lock details (INNODB_LOCKS may lag) */
    } else if (state && strstr(state, "metadata lock")) {
        kind = LOCKWAIT_METADATA; /* MariaDB: the state says it, the blocker is unknown */
    }
    if (kind == LOCKWAIT_NONE || (lw->kind != LOCKWAIT_NONE && lw->blocked_by)) {
        return; /* the first row that names a wait (and its blocker) wins */
    }
    lw->kind = kind;
    if (by) {
        lw->blocked_by = (uint32_t)strtoul(by, NULL, 10);
    }
    const char *us = wait ? wait : run;
    if (us) {
        double v = strtod(us, NULL);
        lw->wait_us = v > 0 ? (uint64_t)v : 0;
    }
    copy(lw->table, sizeof lw->table, table);
    copy(lw->index, sizeof lw->index, col(names, vals, n, "lock_index"));
    copy(lw->mode, sizeof lw->mode, col(names, vals, n, "lock_mode"));
}

/* ---- metadata-lock blockers on MariaDB ---- */

bool
lockwait_mdl_wanted(const struct lockwait *lw)
{
    return lw->kind == LOCKWAIT_METADATA && !lw->blocked_by && !lw->ncands;
}

/*
 * One result set, every row tagged by `src`: the waiter itself (its statement and schema,
 * 'self'), the threads with an open InnoDB transaction ('trx': a metadata lock is held until
 * the transaction ends, and a transaction that read or wrote an InnoDB table is listed there,
 * read-only or not), the idle threads without one ('idle': they may hold a transaction on
 * another engine; only those the proxy knows to be in a transaction count), and with
 * performance_schema the GRANTED owners of what the waiter's PENDING lock asks for ('pfs',
 * MariaDB >= 10.5, the same shape as the MySQL 8 query above).
 */
static const char mdl_q[] =
    "SELECT 'self' AS src, p.ID AS id, p.COMMAND AS command, p.STATE AS state, p.DB AS db, "
    "LEFT(p.INFO, 2048) AS info, NULL AS trx_age_us, p.TIME_MS * 1000 AS run_us, "
    "NULL AS lock_schema, NULL AS lock_name "
    "FROM information_schema.PROCESSLIST p WHERE p.ID = %u "
    "UNION ALL "
    "SELECT 'trx', t.trx_mysql_thread_id, p.COMMAND, p.STATE, p.DB, NULL, "
    "TIMESTAMPDIFF(MICROSECOND, t.trx_started, NOW(6)), NULL, NULL, NULL "
    "FROM information_schema.INNODB_TRX t "
    "LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
    "WHERE t.trx_mysql_thread_id <> %u "
    "UNION ALL "
    "(SELECT 'idle', p.ID, p.COMMAND, p.STATE, p.DB, NULL, NULL, NULL, NULL, NULL "
    "FROM information_schema.PROCESSLIST p WHERE p.COMMAND = 'Sleep' AND p.ID <> %u "
    "AND p.ID NOT IN (SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX) "
    "ORDER BY p.TIME DESC LIMIT 16)";

static const char mdl_pfs_q[] =
    " UNION ALL "
    "SELECT 'pfs', gt.PROCESSLIST_ID, NULL, NULL, NULL, NULL, NULL, NULL, "
    "m.OBJECT_SCHEMA, m.OBJECT_NAME "
    "FROM performance_schema.threads t "
    "JOIN performance_schema.metadata_locks m ON m.OWNER_THREAD_ID = t.THREAD_ID "
    "AND m.LOCK_STATUS = 'PENDING' "
    "JOIN performance_schema.metadata_locks g ON g.OBJECT_TYPE = m.OBJECT_TYPE "
    "AND g.OBJECT_SCHEMA <=> m.OBJECT_SCHEMA AND g.OBJECT_NAME <=> m.OBJECT_NAME "
    "AND g.LOCK_STATUS = 'GRANTED' AND g.OWNER_THREAD_ID <> t.THREAD_ID "
    "JOIN performance_schema.threads gt ON gt.THREAD_ID = g.OWNER_THREAD_ID "
    "WHERE t.PROCESSLIST_ID = %u";

size_t
lockwait_mdl_query(bool pfs, uint32_t thread_id, char *out, size_t cap)
{
    int n = snprintf(out, cap, mdl_q, thread_id, thread_id, thread_id);
    if (n <= 0 || (size_t)n >= cap) {
        return 0;
    }
    if (pfs) {
        int k = snprintf(out + n, cap - (size_t)n, mdl_pfs_q, thread_id);
        if (k <= 0 || (size_t)k >= cap - (size_t)n) {
            return 0;
        }
        n += k;
    }
    return (size_t)n;
}

/* A name token's text (a quoted identifier without its backticks) into out; false when t is
 * no name or does not fit. */
static bool
lw_name(const char *s, const struct proto_sqltok *t, char *out, size_t cap)
{
    if (t->kind != PROTO_TOK_WORD && t->kind != PROTO_TOK_QIDENT) {
        return false;
    }
    size_t n = t->body_end - t->body_start;
    if (n == 0 || n >= cap) {
        return false;
    }
    memcpy(out, s + t->body_start, n);
    out[n] = '\0';
    return true;
}

#define LW_TOKS 64

/* The first LW_TOKS tokens of the text that are not blanks. */
static unsigned
lw_tokens(const char *text, size_t len, struct proto_sqllex *lx, struct proto_sqltok *t)
{
    unsigned n = 0;
    proto_sqllex_init(lx, text, len, 0);
    while (n < LW_TOKS && proto_sqllex_next(lx, &t[n]) != PROTO_TOK_END) {
        if (!proto_sqltok_blank(&t[n])) {
            n++;
        }
    }
    return n;
}

static bool
lw_word_in(const struct proto_sqllex *lx, const struct proto_sqltok *t, const char *const *ws)
{
    for (; *ws; ws++) {
        if (proto_sqltok_word_is(lx, t, *ws)) {
            return true;
        }
    }
    return false;
}

/* The table the waiting statement names first: after TABLE, TABLES, FROM, INTO, UPDATE,
 * JOIN, TRUNCATE, or ON in CREATE/DROP INDEX; `db` when it is unqualified. */
static void
lw_stmt_table(struct lockwait_mdl *m, const char *text, const char *db)
{
    static const char *const after[] = {"table",  "tables", "from",     "into",
                                        "update", "join",   "truncate", NULL};
    static const char *const skip[] = {
        "table",         "if",    "not",     "exists", "only", "ignore", "low_priority",
        "high_priority", "quick", "delayed", NULL};
    struct proto_sqllex lx;
    struct proto_sqltok t[LW_TOKS];
    unsigned n = lw_tokens(text, strlen(text), &lx, t);
    bool index = false;
    for (unsigned i = 0; i + 1 < n; i++) {
        if (proto_sqltok_word_is(&lx, &t[i], "index")) {
            index = true;
        }
        if (!lw_word_in(&lx, &t[i], after) && !(index && proto_sqltok_word_is(&lx, &t[i], "on"))) {
            continue;
        }
        unsigned j = i + 1;
        while (j < n && lw_word_in(&lx, &t[j], skip)) {
            j++;
        }
        char a[65], b[65];
        if (j >= n || !lw_name(text, &t[j], a, sizeof a)) {
            continue;
        }
        if (j + 2 < n && proto_sqltok_op_is(&lx, &t[j + 1], ".") &&
            lw_name(text, &t[j + 2], b, sizeof b)) {
            copy(m->db, sizeof m->db, a);
            copy(m->table, sizeof m->table, b);
        } else {
            copy(m->db, sizeof m->db, db);
            copy(m->table, sizeof m->table, a);
        }
        return;
    }
}

bool
lockwait_text_names(const char *text, size_t len, const char *db, const char *table)
{
    if (!table || !table[0]) {
        return false;
    }
    struct proto_sqllex lx;
    struct proto_sqltok t[LW_TOKS];
    unsigned n = lw_tokens(text, len, &lx, t);
    for (unsigned i = 0; i < n; i++) {
        char name[65], q[65];
        if (!lw_name(text, &t[i], name, sizeof name) || strcasecmp(name, table) != 0) {
            continue;
        }
        if (i + 1 < n && proto_sqltok_op_is(&lx, &t[i + 1], ".")) {
            continue; /* a qualifier itself (a schema, or a table's column) */
        }
        if (i >= 2 && proto_sqltok_op_is(&lx, &t[i - 1], ".")) {
            if (db && db[0] && lw_name(text, &t[i - 2], q, sizeof q) && strcasecmp(q, db) != 0) {
                continue; /* the same name in another schema */
            }
        }
        return true;
    }
    return false;
}

static struct lockwait_cand *
lw_cand(struct lockwait_mdl *m, uint32_t id)
{
    for (unsigned i = 0; i < m->n; i++) {
        if (m->c[i].id == id) {
            return &m->c[i];
        }
    }
    if (m->n == LOCKWAIT_MDL_MAX) {
        return NULL;
    }
    struct lockwait_cand *c = &m->c[m->n++];
    memset(c, 0, sizeof *c);
    c->id = id;
    c->trx_age_us = -1;
    return c;
}

void
lockwait_mdl_add_row(struct lockwait_mdl *m, const char *const *names, const char *const *vals,
                     unsigned n)
{
    const char *src = col(names, vals, n, "src");
    const char *id = col(names, vals, n, "id");
    const char *state = col(names, vals, n, "state");
    uint32_t tid = id ? (uint32_t)strtoul(id, NULL, 10) : 0;
    if (!src || !tid) {
        return;
    }
    if (strcmp(src, "self") == 0) {
        const char *run = col(names, vals, n, "run_us");
        const char *info = col(names, vals, n, "info");
        m->waiter = tid;
        m->run_us = run ? (int64_t)strtod(run, NULL) : -1;
        if (info && !m->table[0]) {
            const char *db = col(names, vals, n, "db");
            lw_stmt_table(m, info, db ? db : "");
        }
        return;
    }
    if (tid == m->waiter) {
        return;
    }
    if (strcmp(src, "pfs") == 0) {
        struct lockwait_cand *c = lw_cand(m, tid);
        const char *ls = col(names, vals, n, "lock_schema");
        const char *ln = col(names, vals, n, "lock_name");
        if (c) {
            c->owner = true;
        }
        if (ln) { /* the server's word on the table beats the statement's */
            copy(m->db, sizeof m->db, ls);
            copy(m->table, sizeof m->table, ln);
        }
        return;
    }
    if (state && strstr(state, "metadata lock")) {
        return; /* waits itself (queued behind the same lock) */
    }
    bool trx = strcmp(src, "trx") == 0;
    if (!trx && strcmp(src, "idle") != 0) {
        return;
    }
    struct lockwait_cand *c = lw_cand(m, tid);
    if (c && trx) {
        const char *age = col(names, vals, n, "trx_age_us");
        c->innodb_trx = true;
        c->trx_age_us = age ? (int64_t)strtod(age, NULL) : -1;
    }
}

/* Can candidate c hold the lock the waiter asks for? */
static bool
lw_eligible(const struct lockwait_mdl *m, const struct lockwait_cand *c)
{
    if (c->id == m->waiter || c->id == 0) {
        return false;
    }
    if (c->innodb_trx) {
        /* trx_started has whole seconds, so the age is an upper bound: younger than the wait
         * means it began after the waiter asked, and would queue behind it */
        return !(m->run_us >= 0 && c->trx_age_us >= 0 && c->trx_age_us < m->run_us);
    }
    return c->touch == LOCKWAIT_TOUCH_MAYBE || c->touch == LOCKWAIT_TOUCH_NO ||
           c->touch == LOCKWAIT_TOUCH_YES;
}

/* Oldest transaction first (unknown ages last); insertion sort of a short list. */
static void
lw_sort(const struct lockwait_mdl *m, unsigned *idx, unsigned k)
{
    for (unsigned i = 1; i < k; i++) {
        unsigned v = idx[i];
        unsigned j = i;
        while (j > 0 && m->c[idx[j - 1]].trx_age_us < m->c[v].trx_age_us) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
}

void
lockwait_mdl_choose(struct lockwait *lw, const struct lockwait_mdl *m)
{
    if (!lw->table[0] && m->table[0]) {
        if (m->db[0]) {
            snprintf(lw->table, sizeof lw->table, "`%s`.`%s`", m->db, m->table);
        } else {
            snprintf(lw->table, sizeof lw->table, "`%s`", m->table);
        }
    }
    for (unsigned i = 0; i < m->n; i++) {
        if (m->c[i].owner && m->c[i].id != m->waiter) {
            lw->blocked_by = m->c[i].id; /* performance_schema says so */
            lw->inferred = false;
            return;
        }
    }
    unsigned all[LOCKWAIT_MDL_MAX], yes[LOCKWAIT_MDL_MAX], notno[LOCKWAIT_MDL_MAX];
    unsigned na = 0, ny = 0, nn = 0;
    for (unsigned i = 0; i < m->n; i++) {
        const struct lockwait_cand *c = &m->c[i];
        if (!lw_eligible(m, c)) {
            continue;
        }
        all[na++] = i;
        if (c->touch == LOCKWAIT_TOUCH_YES) {
            yes[ny++] = i;
        }
        if (c->touch != LOCKWAIT_TOUCH_NO) {
            notno[nn++] = i;
        }
    }
    const unsigned *pick = ny ? yes : nn ? notno : all;
    unsigned k = ny ? ny : nn ? nn : na;
    if (k == 0) {
        return;
    }
    lw->inferred = true;
    if (k == 1) {
        lw->blocked_by = m->c[pick[0]].id;
        return;
    }
    unsigned idx[LOCKWAIT_MDL_MAX];
    memcpy(idx, pick, k * sizeof idx[0]);
    lw_sort(m, idx, k);
    for (unsigned i = 0; i < k && i < LOCKWAIT_CANDS; i++) {
        lw->cands[lw->ncands++] = m->c[idx[i]].id;
    }
}

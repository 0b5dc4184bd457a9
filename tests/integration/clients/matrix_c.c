/*
 * matrix_c.c - the C client of the client matrix (tests/integration/test_matrix_c.py): runs one
 * libmariadb scenario against HOST:PORT and prints a deterministic transcript of what the
 * server answered, so the same scenario run directly and through slowtap must print the same.
 *
 * Usage: matrix_c HOST PORT USER PASSWORD DB SCENARIO [ARG]
 * Scenarios: cursor, longdata, stmtreset, blob20m, changeuser (ARG = other user:password),
 * resetconn, callproc, loaddata (ARG = file), ping, statistics, fieldlist, kill, multistmt,
 * execdirect, bulk. Exit 0 when the scenario ran to its end, 1 on an unexpected error (the
 * transcript says where).
 *
 * Built by the test: cc -o matrix_c matrix_c.c $(pkg-config --cflags --libs libmariadb
 * libcrypto).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <openssl/sha.h>

static const char *mx_host, *mx_user, *mx_pass, *mx_db;
static unsigned mx_port;

/* Prints the error of `m` and exits 1: an unexpected failure. */
static void
mx_die(MYSQL *m, const char *what)
{
    printf("FAIL %s: %u %s\n", what, mysql_errno(m), mysql_error(m));
    exit(1);
}

static void
mx_stmt_die(MYSQL_STMT *st, const char *what)
{
    printf("FAIL %s: %u %s\n", what, mysql_stmt_errno(st), mysql_stmt_error(st));
    exit(1);
}

static MYSQL *
mx_connect(unsigned long flags)
{
    MYSQL *m = mysql_init(NULL);
    unsigned timeout = 60;
    unsigned long maxpkt = 64UL << 20;
    unsigned int local = 1;
    if (!m) {
        printf("FAIL mysql_init\n");
        exit(1);
    }
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_MAX_ALLOWED_PACKET, &maxpkt);
    mysql_options(m, MYSQL_OPT_LOCAL_INFILE, &local);
    if (!mysql_real_connect(m, mx_host, mx_user, mx_pass, mx_db, mx_port, NULL, flags)) {
        mx_die(m, "connect");
    }
    return m;
}

static void
mx_query(MYSQL *m, const char *sql)
{
    if (mysql_query(m, sql)) {
        mx_die(m, sql);
    }
}

/* Prints every row of a text-protocol result (NULL as NULL, binary bytes as \xNN). */
static void
mx_print_res(MYSQL_RES *res)
{
    unsigned n = mysql_num_fields(res);
    MYSQL_FIELD *f = mysql_fetch_fields(res);
    MYSQL_ROW row;
    printf("cols:");
    for (unsigned i = 0; i < n; i++) {
        printf(" %s", f[i].name);
    }
    printf("\n");
    while ((row = mysql_fetch_row(res))) {
        unsigned long *len = mysql_fetch_lengths(res);
        printf("row:");
        for (unsigned i = 0; i < n; i++) {
            if (!row[i]) {
                printf(" NULL");
                continue;
            }
            printf(" [");
            for (unsigned long j = 0; j < len[i]; j++) {
                unsigned char c = (unsigned char)row[i][j];
                if (c < 32 || c > 126 || c == '\\') {
                    printf("\\x%02x", c);
                } else {
                    putchar(c);
                }
            }
            printf("]");
        }
        printf("\n");
    }
}

/* Runs a text query and prints its result set(s) and affected rows. */
static void
mx_show(MYSQL *m, const char *sql)
{
    printf("query: %s\n", sql);
    if (mysql_query(m, sql)) {
        printf("error: %u %s\n", mysql_errno(m), mysql_error(m));
        return;
    }
    do {
        MYSQL_RES *res = mysql_store_result(m);
        if (res) {
            mx_print_res(res);
            mysql_free_result(res);
        } else if (mysql_field_count(m) == 0) {
            printf("affected: %llu\n", (unsigned long long)mysql_affected_rows(m));
        } else {
            mx_die(m, "store_result");
        }
    } while (mysql_next_result(m) == 0);
    if (mysql_errno(m)) {
        printf("error: %u %s\n", mysql_errno(m), mysql_error(m));
    }
}

#define MX_MAXCOLS 8
#define MX_COLBUF  256

/* Fetches and prints all rows of an executed statement, every column read as a string. */
static void
mx_print_stmt(MYSQL_STMT *st)
{
    MYSQL_RES *meta = mysql_stmt_result_metadata(st);
    if (!meta) {
        printf("affected: %llu\n", (unsigned long long)mysql_stmt_affected_rows(st));
        return;
    }
    unsigned n = mysql_num_fields(meta);
    MYSQL_FIELD *f = mysql_fetch_fields(meta);
    MYSQL_BIND b[MX_MAXCOLS];
    char buf[MX_MAXCOLS][MX_COLBUF];
    unsigned long len[MX_MAXCOLS];
    my_bool isnull[MX_MAXCOLS];
    if (n > MX_MAXCOLS) {
        printf("FAIL too many columns\n");
        exit(1);
    }
    memset(b, 0, sizeof b);
    printf("cols:");
    for (unsigned i = 0; i < n; i++) {
        printf(" %s", f[i].name);
        b[i].buffer_type = MYSQL_TYPE_STRING;
        b[i].buffer = buf[i];
        b[i].buffer_length = MX_COLBUF;
        b[i].length = &len[i];
        b[i].is_null = &isnull[i];
    }
    printf("\n");
    if (mysql_stmt_bind_result(st, b)) {
        mx_stmt_die(st, "bind_result");
    }
    int rc;
    while ((rc = mysql_stmt_fetch(st)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
        printf("row:");
        for (unsigned i = 0; i < n; i++) {
            if (isnull[i]) {
                printf(" NULL");
            } else {
                printf(" [%.*s]", (int)(len[i] < MX_COLBUF ? len[i] : MX_COLBUF), buf[i]);
            }
        }
        printf("\n");
    }
    if (rc != MYSQL_NO_DATA) {
        mx_stmt_die(st, "fetch");
    }
    mysql_free_result(meta);
}

static MYSQL_STMT *
mx_prepare(MYSQL *m, const char *sql)
{
    MYSQL_STMT *st = mysql_stmt_init(m);
    if (!st) {
        mx_die(m, "stmt_init");
    }
    if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql))) {
        mx_stmt_die(st, sql);
    }
    return st;
}

static void
mx_bind_int(MYSQL_BIND *b, int *v)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_LONG;
    b->buffer = v;
}

static void
mx_bind_str(MYSQL_BIND *b, const char *s, unsigned long *len)
{
    memset(b, 0, sizeof *b);
    *len = (unsigned long)strlen(s);
    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = (void *)(uintptr_t)s;
    b->buffer_length = *len;
    b->length = len;
}

/* Binds one int and executes. */
static void
mx_exec_int(MYSQL_STMT *st, int v)
{
    MYSQL_BIND b;
    mx_bind_int(&b, &v);
    if (mysql_stmt_bind_param(st, &b) || mysql_stmt_execute(st)) {
        mx_stmt_die(st, "execute");
    }
}

/* ---- scenarios ---- */

/* Read-only cursor with a prefetch of 2 rows: the rows arrive through COM_STMT_FETCH. */
static void
mx_cursor(MYSQL *m)
{
    mx_query(m, "DROP TABLE IF EXISTS m_cur");
    mx_query(m, "CREATE TABLE m_cur (id INT PRIMARY KEY, v VARCHAR(20))");
    mx_query(m, "INSERT INTO m_cur VALUES (1,'one'),(2,'two'),(3,'three'),(4,'four'),"
                "(5,'five'),(6,'six'),(7,NULL)");
    MYSQL_STMT *st = mx_prepare(m, "SELECT id, v FROM m_cur WHERE id > ? ORDER BY id");
    unsigned long type = CURSOR_TYPE_READ_ONLY, prefetch = 2;
    if (mysql_stmt_attr_set(st, STMT_ATTR_CURSOR_TYPE, &type) ||
        mysql_stmt_attr_set(st, STMT_ATTR_PREFETCH_ROWS, &prefetch)) {
        mx_stmt_die(st, "attr_set");
    }
    for (int round = 0; round < 2; round++) {
        mx_exec_int(st, round);
        printf("cursor round %d\n", round);
        mx_print_stmt(st);
        mysql_stmt_free_result(st);
    }
    /* a cursor left open with rows pending, then a plain query on the same connection */
    mx_exec_int(st, 0);
    MYSQL_BIND b[2];
    int id = 0;
    char v[32];
    unsigned long vlen = 0;
    my_bool vnull = 0;
    memset(b, 0, sizeof b);
    b[0].buffer_type = MYSQL_TYPE_LONG;
    b[0].buffer = &id;
    b[1].buffer_type = MYSQL_TYPE_STRING;
    b[1].buffer = v;
    b[1].buffer_length = sizeof v;
    b[1].length = &vlen;
    b[1].is_null = &vnull;
    if (mysql_stmt_bind_result(st, b) || mysql_stmt_fetch(st)) {
        mx_stmt_die(st, "partial fetch");
    }
    printf("partial first row: %d %.*s\n", id, (int)vlen, v);
    mx_show(m, "SELECT COUNT(*) AS n FROM m_cur");
    mysql_stmt_close(st);
    mx_show(m, "SELECT 'after cursor' AS s");
}

/* A parameter sent in three COM_STMT_SEND_LONG_DATA chunks. */
static void
mx_longdata(MYSQL *m)
{
    mx_query(m, "DROP TABLE IF EXISTS m_ld");
    mx_query(m, "CREATE TABLE m_ld (id INT PRIMARY KEY, t TEXT, b BLOB)");
    MYSQL_STMT *st = mx_prepare(m, "INSERT INTO m_ld (id, t, b) VALUES (?, ?, ?)");
    MYSQL_BIND b[3];
    int id = 1;
    unsigned long tlen = 0;
    mx_bind_int(&b[0], &id);
    memset(&b[1], 0, sizeof b[1]);
    b[1].buffer_type = MYSQL_TYPE_STRING;
    memset(&b[2], 0, sizeof b[2]);
    b[2].buffer_type = MYSQL_TYPE_BLOB;
    (void)tlen;
    if (mysql_stmt_bind_param(st, b)) {
        mx_stmt_die(st, "bind");
    }
    const char *chunks[] = {"hello ", "long 'quoted' ", "data"};
    for (unsigned i = 0; i < 3; i++) {
        if (mysql_stmt_send_long_data(st, 1, chunks[i], (unsigned long)strlen(chunks[i]))) {
            mx_stmt_die(st, "send_long_data");
        }
    }
    if (mysql_stmt_send_long_data(st, 2, "\x00\x01\xfe\xff", 4)) {
        mx_stmt_die(st, "send_long_data blob");
    }
    if (mysql_stmt_execute(st)) {
        mx_stmt_die(st, "execute");
    }
    printf("inserted: %llu\n", (unsigned long long)mysql_stmt_affected_rows(st));
    /* long data is consumed by the execute: the next one sends the values inline */
    id = 2;
    static const char inline_t[] = "inline";
    unsigned long ilen = sizeof inline_t - 1;
    b[1].buffer = (void *)(uintptr_t)inline_t;
    b[1].buffer_length = ilen;
    b[1].length = &ilen;
    b[2].buffer_type = MYSQL_TYPE_NULL;
    if (mysql_stmt_bind_param(st, b) || mysql_stmt_execute(st)) {
        mx_stmt_die(st, "execute 2");
    }
    mysql_stmt_close(st);
    mx_show(m, "SELECT id, t, HEX(b) AS hb FROM m_ld ORDER BY id");
}

/* Long data dropped by COM_STMT_RESET: the execute after it binds a plain value. */
static void
mx_stmtreset(MYSQL *m)
{
    mx_query(m, "DROP TABLE IF EXISTS m_rs");
    mx_query(m, "CREATE TABLE m_rs (id INT PRIMARY KEY, t TEXT)");
    MYSQL_STMT *st = mx_prepare(m, "INSERT INTO m_rs (id, t) VALUES (?, ?)");
    MYSQL_BIND b[2];
    int id = 1;
    unsigned long len;
    mx_bind_int(&b[0], &id);
    mx_bind_str(&b[1], "xyz", &len);
    if (mysql_stmt_bind_param(st, b)) {
        mx_stmt_die(st, "bind");
    }
    if (mysql_stmt_send_long_data(st, 1, "discarded", 9)) {
        mx_stmt_die(st, "send_long_data");
    }
    if (mysql_stmt_reset(st)) {
        mx_stmt_die(st, "reset");
    }
    printf("reset ok\n");
    if (mysql_stmt_execute(st)) {
        mx_stmt_die(st, "execute");
    }
    /* reset of a statement with an open result set */
    MYSQL_STMT *sel = mx_prepare(m, "SELECT id, t FROM m_rs WHERE id >= ?");
    mx_exec_int(sel, 0);
    if (mysql_stmt_reset(sel)) {
        mx_stmt_die(sel, "reset sel");
    }
    mx_exec_int(sel, 1);
    mx_print_stmt(sel);
    mysql_stmt_close(sel);
    mysql_stmt_close(st);
    mx_show(m, "SELECT id, t FROM m_rs ORDER BY id");
}

#define MX_BLOB_LEN (20u << 20)

static void
mx_sha(const unsigned char *p, size_t n, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(p, n, d);
    for (unsigned i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        sprintf(out + 2 * i, "%02x", d[i]);
    }
}

/* A 20 MiB blob inserted and read back with the text protocol and with the binary one: the
 * query, the execute packet and the result rows are all longer than one 16 MiB packet. */
static void
mx_blob20m(MYSQL *m)
{
    unsigned char *data = malloc(MX_BLOB_LEN);
    char *sql = malloc(2 * (size_t)MX_BLOB_LEN + 100);
    char sha[65], sha2[65];
    unsigned x = 12345;
    if (!data || !sql) {
        printf("FAIL malloc\n");
        exit(1);
    }
    for (size_t i = 0; i < MX_BLOB_LEN; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (unsigned char)(x >> 16);
    }
    mx_sha(data, MX_BLOB_LEN, sha);
    printf("sent sha256 %s\n", sha);
    mx_query(m, "DROP TABLE IF EXISTS m_blob");
    mx_query(m, "CREATE TABLE m_blob (id INT PRIMARY KEY, b LONGBLOB)");

    /* text protocol: INSERT ... X'hex' (40 MiB statement) */
    int n = sprintf(sql, "INSERT INTO m_blob (id, b) VALUES (1, X'");
    n += (int)mysql_hex_string(sql + n, (const char *)data, MX_BLOB_LEN);
    n += sprintf(sql + n, "')");
    if (mysql_real_query(m, sql, (unsigned long)n)) {
        mx_die(m, "text insert");
    }
    printf("text insert affected %llu\n", (unsigned long long)mysql_affected_rows(m));
    mx_query(m, "SELECT b FROM m_blob WHERE id = 1");
    MYSQL_RES *res = mysql_store_result(m);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    if (!row) {
        mx_die(m, "text select");
    }
    mx_sha((const unsigned char *)row[0], mysql_fetch_lengths(res)[0], sha2);
    printf("text select len %lu sha256 %s\n", mysql_fetch_lengths(res)[0], sha2);
    mysql_free_result(res);

    /* binary protocol: prepared INSERT with the blob inline, prepared SELECT */
    MYSQL_STMT *st = mx_prepare(m, "INSERT INTO m_blob (id, b) VALUES (?, ?)");
    MYSQL_BIND b[2];
    int id = 2;
    unsigned long blen = MX_BLOB_LEN;
    mx_bind_int(&b[0], &id);
    memset(&b[1], 0, sizeof b[1]);
    b[1].buffer_type = MYSQL_TYPE_LONG_BLOB;
    b[1].buffer = data;
    b[1].buffer_length = blen;
    b[1].length = &blen;
    if (mysql_stmt_bind_param(st, b) || mysql_stmt_execute(st)) {
        mx_stmt_die(st, "binary insert");
    }
    printf("binary insert affected %llu\n", (unsigned long long)mysql_stmt_affected_rows(st));
    mysql_stmt_close(st);

    st = mx_prepare(m, "SELECT b FROM m_blob WHERE id = ?");
    for (id = 1; id <= 2; id++) {
        mx_exec_int(st, id);
        unsigned char *out = malloc(MX_BLOB_LEN + 1);
        unsigned long olen = 0;
        MYSQL_BIND r;
        memset(&r, 0, sizeof r);
        r.buffer_type = MYSQL_TYPE_LONG_BLOB;
        r.buffer = out;
        r.buffer_length = MX_BLOB_LEN + 1;
        r.length = &olen;
        if (!out || mysql_stmt_bind_result(st, &r) || mysql_stmt_fetch(st)) {
            mx_stmt_die(st, "binary fetch");
        }
        mx_sha(out, olen, sha2);
        printf("binary select id %d len %lu sha256 %s\n", id, olen, sha2);
        if (mysql_stmt_fetch(st) != MYSQL_NO_DATA) {
            mx_stmt_die(st, "binary fetch end");
        }
        free(out);
    }
    mysql_stmt_close(st);
    mx_show(m, "SELECT id, LENGTH(b) AS len, SHA2(b, 256) AS sha FROM m_blob ORDER BY id");
    free(sql);
    free(data);
}

/* COM_CHANGE_USER drops the session's prepared statements; new ones work afterwards. */
static void
mx_changeuser(MYSQL *m, const char *other)
{
    char user[64], *pass;
    snprintf(user, sizeof user, "%s", other);
    pass = strchr(user, ':');
    if (!pass) {
        printf("FAIL changeuser needs USER:PASSWORD\n");
        exit(1);
    }
    *pass++ = '\0';
    mx_query(m, "SET @matrix_var = 42");
    MYSQL_STMT *old = mx_prepare(m, "SELECT ? AS v");
    if (mysql_change_user(m, user, pass, mx_db)) {
        mx_die(m, "change_user");
    }
    printf("changed user\n");
    mx_show(m, "SELECT CURRENT_USER() AS u, @matrix_var AS v, DATABASE() AS db");
    printf("old stmt execute after change_user: %s\n",
           mysql_stmt_execute(old) ? "error" : "ok (unexpected)");
    mysql_stmt_close(old);
    MYSQL_STMT *st = mx_prepare(m, "SELECT ? + 1 AS next_v, CURRENT_USER() AS u");
    mx_exec_int(st, 99);
    mx_print_stmt(st);
    mysql_stmt_close(st);
    if (mysql_change_user(m, mx_user, mx_pass, mx_db)) {
        mx_die(m, "change_user back");
    }
    mx_show(m, "SELECT CURRENT_USER() AS u");
    if (mysql_change_user(m, user, "wrong-password", mx_db) == 0) {
        printf("change_user with a wrong password succeeded (unexpected)\n");
    } else {
        printf("change_user with a wrong password: error %u\n", mysql_errno(m));
    }
}

/* COM_RESET_CONNECTION clears user variables and prepared statements. */
static void
mx_resetconn(MYSQL *m)
{
    mx_query(m, "SET @matrix_var = 42");
    MYSQL_STMT *old = mx_prepare(m, "SELECT ? AS v");
    MYSQL_STMT *st2 = mx_prepare(m, "SELECT ? * 2 AS dbl");
    if (mysql_reset_connection(m)) {
        mx_die(m, "reset_connection");
    }
    printf("reset connection\n");
    mx_show(m, "SELECT @matrix_var AS v");
    mysql_stmt_close(old);
    mysql_stmt_close(st2);
    MYSQL_STMT *st = mx_prepare(m, "SELECT ? * 3 AS triple");
    mx_exec_int(st, 14);
    mx_print_stmt(st);
    mysql_stmt_close(st);
}

/* A procedure returning two result sets, by a text CALL and by a prepared CALL. */
static void
mx_callproc(MYSQL *m)
{
    mx_show(m, "CALL m_two(5)");
    MYSQL_STMT *st = mx_prepare(m, "CALL m_two(?)");
    mx_exec_int(st, 7);
    int rc, set = 0;
    do {
        printf("prepared call result %d: fields %u\n", set++, mysql_stmt_field_count(st));
        if (mysql_stmt_field_count(st) > 0) {
            mx_print_stmt(st);
        }
        mysql_stmt_free_result(st);
    } while ((rc = mysql_stmt_next_result(st)) == 0);
    if (rc > 0) {
        mx_stmt_die(st, "next_result");
    }
    mysql_stmt_close(st);
    mx_show(m, "SELECT 'after call' AS s");
}

static void
mx_loaddata(MYSQL *m, const char *file)
{
    char sql[1024];
    mx_query(m, "DROP TABLE IF EXISTS m_load");
    mx_query(m, "CREATE TABLE m_load (id INT PRIMARY KEY, v VARCHAR(40))");
    snprintf(sql, sizeof sql,
             "LOAD DATA LOCAL INFILE '%s' INTO TABLE m_load FIELDS TERMINATED BY ','", file);
    if (mysql_query(m, sql)) {
        mx_die(m, "load data");
    }
    printf("loaded %llu\n", (unsigned long long)mysql_affected_rows(m));
    mx_show(m, "SELECT COUNT(*) AS n, MIN(id) AS lo, MAX(id) AS hi, MAX(v) AS mv FROM m_load");
    snprintf(sql, sizeof sql,
             "LOAD DATA LOCAL INFILE '%s.missing' INTO TABLE m_load FIELDS TERMINATED BY ','",
             file);
    printf("missing file: %s\n", mysql_query(m, sql) ? "error" : "ok (unexpected)");
    mx_show(m, "SELECT 'after load' AS s");
}

static void
mx_ping(MYSQL *m)
{
    for (int i = 0; i < 3; i++) {
        printf("ping %d\n", mysql_ping(m));
    }
    mx_show(m, "SELECT 'after ping' AS s");
}

static void
mx_statistics(MYSQL *m)
{
    const char *s = mysql_stat(m);
    printf("stat starts with Uptime: %s\n", s && strncmp(s, "Uptime:", 7) == 0 ? "yes" : "no");
    mx_show(m, "SELECT 'after stat' AS s");
}

static void
mx_fieldlist(MYSQL *m)
{
    mx_query(m, "DROP TABLE IF EXISTS m_fl");
    mx_query(m, "CREATE TABLE m_fl (id INT NOT NULL, name VARCHAR(30), price DECIMAL(8,2),"
                " made DATE)");
    const char *wild[] = {NULL, "na%"};
    for (unsigned w = 0; w < 2; w++) {
        MYSQL_RES *res = mysql_list_fields(m, "m_fl", wild[w]);
        if (!res) {
            mx_die(m, "list_fields");
        }
        unsigned n = mysql_num_fields(res);
        MYSQL_FIELD *f = mysql_fetch_fields(res);
        printf("fields (wild %s): %u\n", wild[w] ? wild[w] : "none", n);
        for (unsigned i = 0; i < n; i++) {
            printf("  %s type %d table %s\n", f[i].name, (int)f[i].type, f[i].table);
        }
        mysql_free_result(res);
    }
    printf("missing table: %s\n", mysql_list_fields(m, "m_no_such_table", NULL) ? "ok" : "error");
    mx_show(m, "SELECT 'after field list' AS s");
}

/* Kills another connection (mysql_kill) and a running query (KILL QUERY). */
static void
mx_kill(MYSQL *m)
{
    MYSQL *victim = mx_connect(0);
    unsigned long id = mysql_thread_id(victim);
    mx_query(victim, "SELECT 1");
    mysql_free_result(mysql_store_result(victim));
    printf("kill: %d\n", mysql_kill(m, id));
    int err = mysql_query(victim, "SELECT 'still alive'");
    printf("victim query after kill: %s\n", err ? "error" : "ok (unexpected)");
    mysql_close(victim);

    victim = mx_connect(0);
    id = mysql_thread_id(victim);
    char sql[64];
    snprintf(sql, sizeof sql, "KILL QUERY %lu", id);
    mx_query(m, sql);
    printf("kill query done\n");
    mx_show(victim, "SELECT 'victim alive after KILL QUERY' AS s");
    mysql_close(victim);
    mx_show(m, "SELECT 'after kill' AS s");
}

/* Multi-statements off at connect, switched on and off with COM_SET_OPTION. */
static void
mx_multistmt(MYSQL *m)
{
    const char *q = "SELECT 1 AS a; SELECT 2 AS b";
    mx_show(m, q);
    if (mysql_set_server_option(m, MYSQL_OPTION_MULTI_STATEMENTS_ON)) {
        mx_die(m, "set option on");
    }
    printf("multi statements on\n");
    mx_show(m, q);
    mx_show(m, "SELECT 3 AS c; SELECT * FROM m_no_such_table; SELECT 4 AS d");
    mx_show(m, "SELECT 'alone' AS e");
    if (mysql_set_server_option(m, MYSQL_OPTION_MULTI_STATEMENTS_OFF)) {
        mx_die(m, "set option off");
    }
    printf("multi statements off\n");
    mx_show(m, q);
    mx_show(m, "SELECT 'after multi' AS s");
}

/* mariadb_stmt_execute_direct: prepare and execute in one round trip (statement id -1). */
static void
mx_execdirect(MYSQL *m)
{
    mx_query(m, "DROP TABLE IF EXISTS m_direct");
    mx_query(m, "CREATE TABLE m_direct (id INT PRIMARY KEY, t VARCHAR(40))");
    MYSQL_STMT *st = mysql_stmt_init(m);
    unsigned int nparams = 2;
    MYSQL_BIND b[2];
    int id = 41;
    unsigned long len;
    if (!st || mysql_stmt_attr_set(st, STMT_ATTR_PREBIND_PARAMS, &nparams)) {
        mx_die(m, "prebind");
    }
    mx_bind_int(&b[0], &id);
    mx_bind_str(&b[1], "dir'ect", &len);
    if (mysql_stmt_bind_param(st, b)) {
        mx_stmt_die(st, "bind");
    }
    const char *ins = "INSERT INTO m_direct (id, t) VALUES (?, ?)";
    if (mariadb_stmt_execute_direct(st, ins, strlen(ins))) {
        mx_stmt_die(st, "execute_direct insert");
    }
    printf("direct insert affected %llu\n", (unsigned long long)mysql_stmt_affected_rows(st));
    mysql_stmt_close(st);

    st = mysql_stmt_init(m);
    if (!st || mysql_stmt_attr_set(st, STMT_ATTR_PREBIND_PARAMS, &nparams)) {
        mx_die(m, "prebind 2");
    }
    id = 41;
    mx_bind_str(&b[1], "dir'ect", &len);
    if (mysql_stmt_bind_param(st, b)) {
        mx_stmt_die(st, "bind 2");
    }
    const char *sel = "SELECT id + 1 AS nx, t FROM m_direct WHERE id = ? AND t = ?";
    if (mariadb_stmt_execute_direct(st, sel, strlen(sel))) {
        mx_stmt_die(st, "execute_direct select");
    }
    mx_print_stmt(st);
    /* an error in the prepare half: the execute half must fail too */
    mysql_stmt_close(st);
    st = mysql_stmt_init(m);
    nparams = 1;
    if (!st || mysql_stmt_attr_set(st, STMT_ATTR_PREBIND_PARAMS, &nparams) ||
        mysql_stmt_bind_param(st, b)) {
        mx_die(m, "prebind 3");
    }
    const char *bad = "SELECT * FROM m_no_such_table WHERE id = ?";
    printf("direct bad: %s\n", mariadb_stmt_execute_direct(st, bad, strlen(bad)) ? "error" : "ok");
    mysql_stmt_close(st);
    mx_show(m, "SELECT id, t FROM m_direct ORDER BY id");
}

/* COM_STMT_BULK_EXECUTE: three rows of parameters (column-wise arrays, one NULL). */
static void
mx_bulk(MYSQL *m)
{
    mx_query(m, "DROP TABLE IF EXISTS m_bulk");
    mx_query(m, "CREATE TABLE m_bulk (id INT PRIMARY KEY, t VARCHAR(20), n INT DEFAULT 5)");
    MYSQL_STMT *st = mx_prepare(m, "INSERT INTO m_bulk (id, t, n) VALUES (?, ?, ?)");
    unsigned int size = 3;
    int ids[3] = {1, 2, 3};
    int ns[3] = {10, 0, 30};
    char *ts[3] = {"first", "sec'ond", "third"};
    unsigned long tlens[3] = {5, 7, 5};
    char tind[3] = {STMT_INDICATOR_NTS, STMT_INDICATOR_NULL, STMT_INDICATOR_NONE};
    char nind[3] = {STMT_INDICATOR_NONE, STMT_INDICATOR_DEFAULT, STMT_INDICATOR_NONE};
    MYSQL_BIND b[3];
    memset(b, 0, sizeof b);
    b[0].buffer_type = MYSQL_TYPE_LONG;
    b[0].buffer = ids;
    b[1].buffer_type = MYSQL_TYPE_STRING;
    b[1].buffer = ts;
    b[1].length = tlens;
    b[1].u.indicator = tind;
    b[2].buffer_type = MYSQL_TYPE_LONG;
    b[2].buffer = ns;
    b[2].u.indicator = nind;
    if (mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &size) || mysql_stmt_bind_param(st, b) ||
        mysql_stmt_execute(st)) {
        mx_stmt_die(st, "bulk execute");
    }
    printf("bulk affected %llu\n", (unsigned long long)mysql_stmt_affected_rows(st));
    /* the same statement again with new rows */
    for (int i = 0; i < 3; i++) {
        ids[i] += 10;
    }
    if (mysql_stmt_execute(st)) {
        mx_stmt_die(st, "bulk execute 2");
    }
    printf("bulk 2 affected %llu\n", (unsigned long long)mysql_stmt_affected_rows(st));
    mysql_stmt_close(st);
    mx_show(m, "SELECT id, t, n FROM m_bulk ORDER BY id");
}

int
main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: matrix_c HOST PORT USER PASSWORD DB SCENARIO [ARG]\n");
        return 2;
    }
    mx_host = argv[1];
    mx_port = (unsigned)atoi(argv[2]);
    mx_user = argv[3];
    mx_pass = argv[4];
    mx_db = argv[5];
    const char *sc = argv[6];
    const char *arg = argc > 7 ? argv[7] : "";
    setvbuf(stdout, NULL, _IOLBF, 0);

    MYSQL *m = mx_connect(0);
    if (strcmp(sc, "cursor") == 0) {
        mx_cursor(m);
    } else if (strcmp(sc, "longdata") == 0) {
        mx_longdata(m);
    } else if (strcmp(sc, "stmtreset") == 0) {
        mx_stmtreset(m);
    } else if (strcmp(sc, "blob20m") == 0) {
        mx_blob20m(m);
    } else if (strcmp(sc, "changeuser") == 0) {
        mx_changeuser(m, arg);
    } else if (strcmp(sc, "resetconn") == 0) {
        mx_resetconn(m);
    } else if (strcmp(sc, "callproc") == 0) {
        mx_callproc(m);
    } else if (strcmp(sc, "loaddata") == 0) {
        mx_loaddata(m, arg);
    } else if (strcmp(sc, "ping") == 0) {
        mx_ping(m);
    } else if (strcmp(sc, "statistics") == 0) {
        mx_statistics(m);
    } else if (strcmp(sc, "fieldlist") == 0) {
        mx_fieldlist(m);
    } else if (strcmp(sc, "kill") == 0) {
        mx_kill(m);
    } else if (strcmp(sc, "multistmt") == 0) {
        mx_multistmt(m);
    } else if (strcmp(sc, "execdirect") == 0) {
        mx_execdirect(m);
    } else if (strcmp(sc, "bulk") == 0) {
        mx_bulk(m);
    } else {
        fprintf(stderr, "unknown scenario %s\n", sc);
        return 2;
    }
    mysql_close(m);
    printf("END\n");
    return 0;
}

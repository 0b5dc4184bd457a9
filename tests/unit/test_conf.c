/*
 * test_conf.c - table-driven tests of conf/conf.c: defaults, every option, the INI file and
 * its precedence below the command line, underscores, repeatables, the password sources and
 * every kind of error (each exactly one `slowtap: ...` line, captured with open_memstream).
 */
#include "check.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"

static char tmpdir[] = "/tmp/slowtap-test-conf-XXXXXX";

/* Writes `text` to a file under tmpdir with permissions `mode`; returns its path (static). */
static const char *
write_file(const char *name, const char *text, mode_t mode)
{
    static char path[16][256];
    static int slot;
    char *p = path[slot++ % 16];
    FILE *fp;

    snprintf(p, 256, "%s/%s", tmpdir, name);
    fp = fopen(p, "w");
    if (!fp) {
        perror(p);
        exit(1);
    }
    fputs(text, fp);
    fclose(fp);
    chmod(p, mode);
    return p;
}

struct run {
    enum conf_result rc;
    char *out;
    char *err;
};

/* Runs conf_load on a NULL-terminated argument list (argv[0] added). */
static struct run
run_conf(struct conf *c, const char *const *args)
{
    char *argv[128]; /* room for the 33 --redact pairs of test_errors */
    int argc = 0;
    struct run r;
    size_t on, en;
    FILE *out = open_memstream(&r.out, &on);
    FILE *err = open_memstream(&r.err, &en);

    argv[argc++] = strdup("slowtap");
    for (; args && *args; args++) {
        argv[argc++] = strdup(*args);
    }
    argv[argc] = NULL;
    r.rc = conf_load(c, argc, argv, out, err);
    for (int i = 0; i < argc; i++) {
        free(argv[i]);
    }
    fclose(out);
    fclose(err);
    return r;
}

static void
run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

/* Number of lines in s. */
static int
count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) {
        n += *s == '\n';
    }
    return n;
}

static void
test_defaults(void)
{
    struct conf c;
    struct run r = run_conf(&c, NULL);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    CHECK(r.rc == CONF_RUN);
    CHECK_STR(r.err, "");
    CHECK_STR(c.listen, "127.0.0.1:6033");
    CHECK_STR(c.backend, "127.0.0.1:3306");
    CHECK_EQ_U(c.long_query_us, 1000000);
    CHECK_STR(c.slow_log, "slowtap-slow.log");
    CHECK(c.log_format == CONF_LOG_TEXT);
    CHECK(c.explain_user == NULL);
    CHECK(c.explain_password == NULL);
    CHECK_EQ_U(c.explain_threshold_us, 1000000);
    CHECK_EQ_U(c.explain_interval_us, 60000000);
    CHECK_EQ_U(c.explain_timeout_us, 2000000);
    CHECK_EQ_U(c.explain_max_inflight, 2);
    CHECK_EQ_U(c.explain_rate, 10);
    CHECK_EQ_U(c.explain_top, 20);
    CHECK_EQ_U(c.explain_top_every_us, 60000000);
    CHECK_EQ_U(c.max_pending_handshakes, 128);
    CHECK(c.explain_log == NULL);
    CHECK_EQ_U(c.max_digests, 10000);
    CHECK_EQ_U(c.max_routes, 1000);
    CHECK_EQ_U(c.request_gap_us, 50000);
    CHECK_EQ_U(c.n_plus_one_min, 5);
    CHECK_EQ_U(c.requests_keep, 20);
    CHECK_EQ_U(c.requests_stmts, 1000);
    CHECK_STR(c.http, "127.0.0.1:9033");
    CHECK_EQ_U(c.metrics_top, 20);
    CHECK(c.http_auth_file == NULL);
    CHECK_EQ_U(c.n_include + c.n_exclude + c.n_redact, 0);
    CHECK(!c.redact_all);
    CHECK_EQ_U(c.threads, cores > 256 ? 256 : cores);
    CHECK_EQ_U(c.max_connections, 10000);
    CHECK_EQ_U(c.handshake_timeout_us, 10000000);
    CHECK_EQ_U(c.shutdown_timeout_us, 10000000);
    CHECK_EQ_U(c.long_transaction_us, 5000000);
    CHECK(!c.tls_cert && !c.tls_key && !c.tls_ca && !c.tls_require);
    CHECK(c.tls);
    CHECK(c.tls_generated_cert == NULL);
    CHECK(c.backend_tls == CONF_BTLS_MIRROR); /* the default: TLS as the client's leg */
    CHECK(c.backend_tls_ca == NULL);
    CHECK(c.backend_compress == CONF_BCOMP_AUTO);
    conf_free(&c);
    run_free(&r);
}

static void
test_every_option(void)
{
    struct conf c;
    const char *args[] = {"--listen",
                          "0.0.0.0:7000",
                          "--backend",
                          "/run/mysqld/mysqld.sock",
                          "--long-query-time",
                          "0.5",
                          "--slow-log",
                          "-",
                          "--log-format",
                          "json",
                          "--explain-user",
                          "ex",
                          "--explain-password",
                          "pw",
                          "--explain-threshold",
                          "2",
                          "--explain-interval",
                          "0",
                          "--explain-timeout",
                          "0.25",
                          "--explain-max-inflight",
                          "5",
                          "--explain-rate",
                          "0",
                          "--max-pending-handshakes",
                          "7",
                          "--explain-log",
                          "/tmp/e.log",
                          "--max-digests",
                          "77",
                          "--max-routes",
                          "12",
                          "--request-gap",
                          "0.2",
                          "--n-plus-one-min",
                          "3",
                          "--requests-keep",
                          "0",
                          "--requests-statements",
                          "7",
                          "--http",
                          "[::1]:9999",
                          "--metrics-top",
                          "0",
                          "--http-auth-file",
                          "/tmp/auth",
                          "--include",
                          "^SELECT",
                          "--include",
                          "^UPDATE",
                          "--exclude",
                          "ping",
                          "--redact",
                          "secret",
                          "--redact-all",
                          "--threads",
                          "3",
                          "--max-connections",
                          "50",
                          "--handshake-timeout",
                          "1.5",
                          "--shutdown-timeout",
                          "0",
                          "--tls-cert",
                          "/c.pem",
                          "--tls-key",
                          "/k.pem",
                          "--tls-ca",
                          "/ca.pem",
                          "--tls-require",
                          "--backend-tls",
                          "verify-identity",
                          "--backend-tls-ca",
                          "/bca.pem",
                          "--explain-top",
                          "0",
                          "--explain-top-interval",
                          "2.5",
                          NULL};
    struct run r = run_conf(&c, args);

    CHECK(r.rc == CONF_RUN);
    CHECK_STR(r.err, "");
    CHECK_STR(c.listen, "0.0.0.0:7000");
    CHECK_STR(c.backend, "/run/mysqld/mysqld.sock");
    CHECK_EQ_U(c.long_query_us, 500000);
    CHECK_STR(c.slow_log, "-");
    CHECK(c.log_format == CONF_LOG_JSON);
    CHECK_STR(c.explain_user, "ex");
    CHECK_STR(c.explain_password, "pw");
    CHECK_EQ_U(c.explain_threshold_us, 2000000);
    CHECK_EQ_U(c.explain_interval_us, 0);
    CHECK_EQ_U(c.explain_timeout_us, 250000);
    CHECK_EQ_U(c.explain_max_inflight, 5);
    CHECK_EQ_U(c.explain_rate, 0);
    CHECK_EQ_U(c.explain_top, 0);
    CHECK_EQ_U(c.explain_top_every_us, 2500000);
    CHECK_EQ_U(c.max_pending_handshakes, 7);
    CHECK_STR(c.explain_log, "/tmp/e.log");
    CHECK_EQ_U(c.max_digests, 77);
    CHECK_EQ_U(c.max_routes, 12);
    CHECK_EQ_U(c.request_gap_us, 200000);
    CHECK_EQ_U(c.n_plus_one_min, 3);
    CHECK_EQ_U(c.requests_keep, 0);
    CHECK_EQ_U(c.requests_stmts, 7);
    CHECK_STR(c.http, "[::1]:9999");
    CHECK_EQ_U(c.metrics_top, 0);
    CHECK_STR(c.http_auth_file, "/tmp/auth");
    CHECK_EQ_U(c.n_include, 2);
    CHECK_STR(c.include[0], "^SELECT");
    CHECK_STR(c.include[1], "^UPDATE");
    CHECK_EQ_U(c.n_exclude, 1);
    CHECK_STR(c.exclude[0], "ping");
    CHECK_EQ_U(c.n_redact, 1);
    CHECK_STR(c.redact[0], "secret");
    CHECK(c.redact_all);
    CHECK_EQ_U(c.threads, 3);
    CHECK_EQ_U(c.max_connections, 50);
    CHECK_EQ_U(c.handshake_timeout_us, 1500000);
    CHECK_EQ_U(c.shutdown_timeout_us, 0);
    CHECK_STR(c.tls_cert, "/c.pem");
    CHECK_STR(c.tls_key, "/k.pem");
    CHECK_STR(c.tls_ca, "/ca.pem");
    CHECK(c.tls_require);
    CHECK(c.backend_tls == CONF_BTLS_VERIFY_IDENTITY);
    CHECK_STR(c.backend_tls_ca, "/bca.pem");
    conf_free(&c);
    run_free(&r);
}

/* Small table of single-option cases: argv, then a check on the result. */
static void
test_single_options(void)
{
    static const struct {
        const char *a, *b;
        int field; /* 0 http NULL, 1 threshold follows lqt, 2 backend-tls, 3 bool=no, 4 =val,
                      5 tls, 6 tls-require alone, 7 tls-generated-cert, 8 backend-compress */
        long long want;
    } cases[] = {
        {"--http", "off", 0, 0},
        {"--long-query-time", "0.000100", 1, 100},
        {"--backend-tls", "mirror", 2, CONF_BTLS_MIRROR},
        {"--backend-tls", "preferred", 2, CONF_BTLS_PREFERRED},
        {"--backend-tls", "required", 2, CONF_BTLS_REQUIRED},
        {"--backend-tls", "verify-ca", 2, CONF_BTLS_VERIFY_CA},
        {"--backend-tls", "off", 2, CONF_BTLS_OFF},
        {"--redact-all=no", NULL, 3, 0},
        {"--redact-all=on", NULL, 4, 1},
        {"--http=off", NULL, 0, 0},
        {"--tls", "off", 5, 0},
        {"--tls=on", NULL, 5, 1},
        {"--tls", "no", 5, 0},
        {"--tls-require", NULL, 6, 1}, /* with the generated certificate */
        {"--tls-generated-cert", "/run/slowtap/cert.pem", 7, 0},
        {"--backend-compress", "on", 8, CONF_BCOMP_ON},
        {"--backend-compress", "off", 8, CONF_BCOMP_OFF},
        {"--backend-compress=yes", NULL, 8, CONF_BCOMP_ON},
        {"--backend-compress=0", NULL, 8, CONF_BCOMP_OFF},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct conf c;
        const char *args[] = {cases[i].a, cases[i].b, NULL};
        struct run r = run_conf(&c, args);
        CHECK(r.rc == CONF_RUN);
        CHECK_STR(r.err, "");
        switch (cases[i].field) {
        case 0:
            CHECK(c.http == NULL);
            break;
        case 1:
            CHECK_EQ_U(c.long_query_us, cases[i].want);
            CHECK_EQ_U(c.explain_threshold_us, cases[i].want);
            break;
        case 2:
            CHECK_EQ_U(c.backend_tls, cases[i].want);
            break;
        case 5:
            CHECK_EQ_U(c.tls, cases[i].want);
            CHECK(c.tls_cert == NULL);
            break;
        case 6:
            CHECK(c.tls && c.tls_require && c.tls_cert == NULL);
            break;
        case 7:
            CHECK(c.tls);
            CHECK_STR(c.tls_generated_cert, "/run/slowtap/cert.pem");
            break;
        case 8:
            CHECK_EQ_U(c.backend_compress, cases[i].want);
            break;
        default:
            CHECK_EQ_U(c.redact_all, cases[i].want);
            break;
        }
        conf_free(&c);
        run_free(&r);
    }
}

static void
test_file_and_precedence(void)
{
    struct conf c;
    const char *path = write_file("a.ini",
                                  "; comment\n"
                                  "# another comment\n"
                                  "listen = 127.0.0.1:7001\n"
                                  "[slowtap]\n"
                                  "backend = db.example:3307\n"
                                  "long_query_time = 0.25\n"
                                  "slow-log = /var/log/slow.log\n"
                                  "include = ^SELECT\n"
                                  "include = ^INSERT\n"
                                  "redact = card\n"
                                  "tls_require = off\n"
                                  "tls = off\n"
                                  "redact_all = yes\n"
                                  "threads = 4\n"
                                  "http = off\n"
                                  "log_format = json\n"
                                  "backend_compress = off\n",
                                  0600);
    const char *args[] = {"--config", path, "--threads", "2", "--include", "^UPDATE", NULL};
    struct run r = run_conf(&c, args);

    CHECK(r.rc == CONF_RUN);
    CHECK_STR(r.err, "");
    CHECK_STR(c.config_file, path);
    CHECK_STR(c.listen, "127.0.0.1:7001");
    CHECK_STR(c.backend, "db.example:3307");
    CHECK_EQ_U(c.long_query_us, 250000);
    CHECK_EQ_U(c.explain_threshold_us, 250000);
    CHECK_STR(c.slow_log, "/var/log/slow.log");
    CHECK_EQ_U(c.threads, 2);   /* the command line wins */
    CHECK_EQ_U(c.n_include, 1); /* and replaces the file's list */
    CHECK_STR(c.include[0], "^UPDATE");
    CHECK_EQ_U(c.n_redact, 1); /* the file's list stays when the command line has none */
    CHECK_STR(c.redact[0], "card");
    CHECK(c.redact_all);
    CHECK(c.http == NULL);
    CHECK(c.log_format == CONF_LOG_JSON);
    CHECK(!c.tls); /* the "tls = off" key */
    CHECK(c.backend_compress == CONF_BCOMP_OFF);
    conf_free(&c);
    run_free(&r);

    /* The file's repeatables accumulate when the command line does not name them; a later
     * --config wins over an earlier one; --http on the command line beats "off" in the file. */
    {
        const char *args2[] = {"--config", "/nonexistent", "--config", path,
                               "--http",   "127.0.0.1:1",  NULL};
        r = run_conf(&c, args2);
        CHECK(r.rc == CONF_RUN);
        CHECK_EQ_U(c.n_include, 2);
        CHECK_STR(c.include[1], "^INSERT");
        CHECK_STR(c.http, "127.0.0.1:1");
        conf_free(&c);
        run_free(&r);
    }
}

static void
test_passwords(void)
{
    struct conf c;
    struct run r;
    const char *pwfile = write_file("pw", "s3cret\nsecond line\n", 0600);
    const char *crlf = write_file("pwcrlf", "crlf\r\n", 0600);
    const char *empty = write_file("pwempty", "", 0600);
    const char *ini_open = write_file("pw644.ini", "explain_password = filepw\n", 0644);
    const char *ini_closed = write_file("pw600.ini", "explain-password = filepw\n", 0600);

    {
        const char *args[] = {"--explain-password", "cli", NULL};
        unsetenv("SLOWTAP_EXPLAIN_PASSWORD");
        r = run_conf(&c, args);
        CHECK(r.rc == CONF_RUN);
        CHECK_STR(c.explain_password, "cli");
        conf_free(&c);
        run_free(&r);
    }
    {
        const char *args[] = {"--explain-password", "cli", NULL};
        setenv("SLOWTAP_EXPLAIN_PASSWORD", "fromenv", 1);
        r = run_conf(&c, args);
        CHECK(r.rc == CONF_RUN);
        CHECK_STR(c.explain_password, "fromenv");
        conf_free(&c);
        run_free(&r);
    }
    {
        const char *args[] = {"--explain-password", "cli", "--explain-password-file", pwfile, NULL};
        r = run_conf(&c, args); /* env is still set: the file wins over both */
        CHECK(r.rc == CONF_RUN);
        CHECK_STR(c.explain_password, "s3cret");
        conf_free(&c);
        run_free(&r);
        unsetenv("SLOWTAP_EXPLAIN_PASSWORD");
    }
    {
        const char *args[] = {"--explain-password-file", crlf, NULL};
        r = run_conf(&c, args);
        CHECK_STR(c.explain_password, "crlf");
        conf_free(&c);
        run_free(&r);
    }
    {
        const char *args[] = {"--explain-password-file", empty, NULL};
        r = run_conf(&c, args);
        CHECK(r.rc == CONF_RUN);
        CHECK_STR(c.explain_password, "");
        conf_free(&c);
        run_free(&r);
    }
    {
        const char *args[] = {"--config", ini_open, NULL};
        r = run_conf(&c, args);
        CHECK(r.rc == CONF_RUN);
        CHECK_STR(c.explain_password, "filepw");
        CHECK_EQ_U(count_lines(r.err), 1);
        CHECK(strncmp(r.err, "slowtap: warning: config file ", 30) == 0);
        CHECK(strstr(r.err, "pw644.ini") != NULL);
        conf_free(&c);
        run_free(&r);
    }
    {
        const char *args[] = {"--config", ini_closed, NULL};
        r = run_conf(&c, args);
        CHECK(r.rc == CONF_RUN);
        CHECK_STR(c.explain_password, "filepw");
        CHECK_STR(r.err, "");
        conf_free(&c);
        run_free(&r);
    }
}

static void
test_help_version(void)
{
    static const char *const names[] = {"--config",
                                        "--listen",
                                        "--backend",
                                        "--long-query-time",
                                        "--slow-log",
                                        "--log-format",
                                        "--explain-user",
                                        "--explain-password ",
                                        "--explain-password-file",
                                        "--explain-threshold",
                                        "--explain-interval",
                                        "--explain-timeout",
                                        "--explain-max-inflight",
                                        "--explain-rate",
                                        "--explain-log",
                                        "--max-digests",
                                        "--http ",
                                        "--metrics-top",
                                        "--http-auth-file",
                                        "--include",
                                        "--exclude",
                                        "--redact ",
                                        "--redact-all",
                                        "--threads",
                                        "--max-connections",
                                        "--handshake-timeout",
                                        "--max-pending-handshakes",
                                        "--shutdown-timeout",
                                        "--tls on|off",
                                        "--tls-generated-cert FILE",
                                        "--tls-cert",
                                        "--tls-key",
                                        "--tls-ca",
                                        "--tls-require",
                                        "--backend-tls ",
                                        "--backend-tls-ca",
                                        "--backend-compress on|off",
                                        "--help",
                                        "--version",
                                        "slowtap report --help",
                                        "default 127.0.0.1:6033",
                                        "default 10000"};
    struct conf c;
    const char *h[] = {"--help", NULL};
    const char *v[] = {"--version", NULL};
    const char *hv[] = {"--listen", "bad", "-h", NULL}; /* --help wins over bad values */
    struct run r = run_conf(&c, h);

    CHECK(r.rc == CONF_EXIT_OK);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!strstr(r.out, names[i])) {
            fprintf(stderr, "--help lacks '%s'\n", names[i]);
            CHECK(0);
        }
    }
    CHECK_STR(r.err, "");
    conf_free(&c);
    run_free(&r);

    r = run_conf(&c, v);
    CHECK(r.rc == CONF_EXIT_OK);
    CHECK_STR(r.out, "slowtap " SLOWTAP_VERSION "\n");
    conf_free(&c);
    run_free(&r);

    r = run_conf(&c, hv);
    CHECK(r.rc == CONF_EXIT_OK);
    conf_free(&c);
    run_free(&r);
}

static void
test_errors(void)
{
    const char *bad_key = write_file("badkey.ini", "listen = 127.0.0.1:1\n\nfoo = 1\n", 0600);
    const char *bad_sect = write_file("badsect.ini", "[slowtap]\nthreads=2\n[mysqld]\n", 0600);
    const char *bad_val = write_file("badval.ini", "[slowtap]\nlong_query_time = abc\n", 0600);
    const char *bad_syntax = write_file("badsyn.ini", "threads 2\n", 0600);
    const char *cfg_key = write_file("cfgkey.ini", "config = /x\n", 0600);
    static char long_ini[600];
    const char *long_line;
    static char msg[12][512];
    static const struct {
        const char *args[6];
        const char *want; /* the exact error line; "@n" = msg[n] */
    } cases[] = {
        {{"--frob"}, "slowtap: unknown option '--frob'\n"},
        {{"--frob=1"}, "slowtap: unknown option '--frob'\n"},
        {{"-x"}, "slowtap: unknown option '-x'\n"},
        {{"--help=yes"}, "slowtap: --help: takes no argument\n"},
        {{"--listen"}, "slowtap: --listen: missing argument\n"},
        {{"stray"}, "slowtap: unexpected argument 'stray'\n"},
        {{"--long-query-time", "abc"}, "slowtap: --long-query-time: invalid duration 'abc'\n"},
        {{"--long-query-time", "-1"}, "slowtap: --long-query-time: invalid duration '-1'\n"},
        {{"--long-query-time", "1.1234567"},
         "slowtap: --long-query-time: invalid duration '1.1234567'\n"},
        {{"--long-query-time", "1s"}, "slowtap: --long-query-time: invalid duration '1s'\n"},
        {{"--long-query-time", ""}, "slowtap: --long-query-time: invalid duration ''\n"},
        {{"--explain-timeout", "0"},
         "slowtap: --explain-timeout: invalid duration '0' (must be greater than 0)\n"},
        {{"--shutdown-timeout", "1."}, "slowtap: --shutdown-timeout: invalid duration '1.'\n"},
        {{"--listen", "localhost"},
         "slowtap: --listen: invalid address 'localhost' (expected HOST:PORT, [IPv6]:PORT, PORT "
         "or /unix/socket/path)\n"},
        {{"--listen", "127.0.0.1:0"},
         "slowtap: --listen: invalid address '127.0.0.1:0' (port must be 1..65535)\n"},
        {{"--backend", "h:65536"},
         "slowtap: --backend: invalid address 'h:65536' (port must be 1..65535)\n"},
        {{"--backend", "::1:3306"},
         "slowtap: --backend: invalid address '::1:3306' (an IPv6 address needs brackets: "
         "[ADDR]:PORT)\n"},
        {{"--http", "[zz]:1"},
         "slowtap: --http: invalid address '[zz]:1' (invalid IPv6 address)\n"},
        {{"--backend", "rel/sock"},
         "slowtap: --backend: invalid address 'rel/sock' (expected HOST:PORT, [IPv6]:PORT, PORT "
         "or /unix/socket/path)\n"},
        {{"--threads", "0"}, "slowtap: --threads: 0 out of range (1..256)\n"},
        {{"--threads", "257"}, "slowtap: --threads: 257 out of range (1..256)\n"},
        {{"--threads", "2x"}, "slowtap: --threads: invalid number '2x'\n"},
        {{"--max-pending-handshakes", "0"},
         "slowtap: --max-pending-handshakes: 0 out of range (1..1000000)\n"},
        {{"--explain-rate", "-1"}, "slowtap: --explain-rate: -1 out of range (0..1000000)\n"},
        {{"--max-digests", "99999999999999999999"},
         "slowtap: --max-digests: invalid number '99999999999999999999'\n"},
        {{"--log-format", "xml"},
         "slowtap: --log-format: invalid value 'xml' (expected text or json)\n"},
        {{"--backend-tls", "on"},
         "slowtap: --backend-tls: invalid value 'on' (expected off, mirror, preferred, "
         "required, verify-ca or verify-identity)\n"},
        {{"--backend-compress", "zstd"},
         "slowtap: --backend-compress: invalid value 'zstd' (expected on or off)\n"},
        {{"--backend-compress"}, "slowtap: --backend-compress: missing argument\n"},
        {{"--redact-all=maybe"},
         "slowtap: --redact-all: invalid boolean 'maybe' (expected yes/no, on/off, "
         "true/false, 1/0)\n"},
        {{"--include", ""}, "slowtap: --include: empty pattern\n"},
        {{"--tls-key", "/k"}, "slowtap: --tls-key: needs --tls-cert\n"},
        {{"--tls-cert", "/c"}, "slowtap: --tls-cert: needs --tls-key\n"},
        {{"--tls", "maybe"}, "slowtap: --tls: invalid value 'maybe' (expected on or off)\n"},
        {{"--tls"}, "slowtap: --tls: missing argument\n"},
        {{"--tls=off", "--tls-cert", "/c", "--tls-key", "/k"},
         "slowtap: --tls-cert: conflicts with --tls off\n"},
        {{"--tls-require", "--tls", "off"}, "slowtap: --tls-require: conflicts with --tls off\n"},
        {{"--tls", "off", "--tls-ca", "/ca"}, "slowtap: --tls-ca: conflicts with --tls off\n"},
        {{"--tls", "off", "--tls-generated-cert", "/g"},
         "slowtap: --tls-generated-cert: conflicts with --tls off\n"},
        {{"--tls-generated-cert=/g", "--tls-cert", "/c", "--tls-key", "/k"},
         "slowtap: --tls-generated-cert: nothing is generated with --tls-cert\n"},
        {{"--config", "@cfg0"}, "@0"},
        {{"--config", "@cfg1"}, "@1"},
        {{"--config", "@cfg2"}, "@2"},
        {{"--config", "@cfg3"}, "@3"},
        {{"--config", "/nonexistent/x.ini"},
         "slowtap: config file /nonexistent/x.ini: cannot open: No such file or directory\n"},
        {{"--config", "@cfg4"}, "@4"},
        {{"--explain-password-file", "/nonexistent/pw"},
         "slowtap: --explain-password-file: cannot read /nonexistent/pw: No such file or "
         "directory\n"},
        {{"--config", "@cfg5"}, "@5"},
        {{"--config", "/tmp"}, "slowtap: config file /tmp: cannot read: Is a directory\n"},
    };
    const char *cfgs[] = {bad_key, bad_sect, bad_val, bad_syntax, cfg_key, NULL};

    memset(long_ini, 'x', sizeof(long_ini) - 2);
    memcpy(long_ini, "include = ", 10);
    long_ini[sizeof(long_ini) - 2] = '\n';
    long_line = write_file("long.ini", long_ini, 0600);
    cfgs[5] = long_line;

    snprintf(msg[0], 512, "slowtap: config file %s line 3: unknown key 'foo'\n", bad_key);
    snprintf(msg[1], 512, "slowtap: config file %s line 3: unknown section 'mysqld'\n", bad_sect);
    snprintf(msg[2], 512,
             "slowtap: config file %s line 2: long-query-time: invalid duration 'abc'\n", bad_val);
    snprintf(msg[3], 512, "slowtap: config file %s line 1: syntax error (expected key = value)\n",
             bad_syntax);
    snprintf(msg[4], 512, "slowtap: config file %s line 1: unknown key 'config'\n", cfg_key);
    snprintf(msg[5], 512, "slowtap: config file %s line 1: line too long (max 197 characters)\n",
             long_line);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *args[6];
        const char *want = cases[i].want;
        struct conf c;
        struct run r;
        for (int j = 0; j < 6; j++) {
            const char *a = cases[i].args[j];
            args[j] = a && strncmp(a, "@cfg", 4) == 0 ? cfgs[a[4] - '0'] : a;
        }
        if (want[0] == '@') {
            want = msg[want[1] - '0'];
        }
        r = run_conf(&c, args);
        CHECK(r.rc == CONF_EXIT_ERR);
        CHECK_STR(r.err, want);
        CHECK_EQ_U(count_lines(r.err), 1);
        conf_free(&c);
        run_free(&r);
    }

    /* more than CONF_MAX_PATTERNS */
    {
        const char *args[2 * CONF_MAX_PATTERNS + 4];
        int n = 0;
        struct conf c;
        struct run r;
        for (int i = 0; i <= CONF_MAX_PATTERNS; i++) {
            args[n++] = "--redact";
            args[n++] = "x";
        }
        args[n] = NULL;
        r = run_conf(&c, args);
        CHECK(r.rc == CONF_EXIT_ERR);
        CHECK_STR(r.err, "slowtap: --redact: more than 32 patterns\n");
        conf_free(&c);
        run_free(&r);
    }
}

static void
test_parse_seconds(void)
{
    static const struct {
        const char *s;
        bool ok;
        long long us;
    } cases[] = {
        {"0", true, 0},
        {"1", true, 1000000},
        {"0.5", true, 500000},
        {"0.000100", true, 100},
        {"2.000001", true, 2000001},
        {"86400", true, 86400000000LL},
        {"", false, 0},
        {"-1", false, 0},
        {"+1", false, 0},
        {"1.", false, 0},
        {".5", false, 0},
        {"1.0000001", false, 0},
        {"1e3", false, 0},
        {" 1", false, 0},
        {"1 ", false, 0},
        {"abc", false, 0},
        {"99999999999999999999", false, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t us = -7;
        bool ok = conf_parse_seconds(cases[i].s, &us);
        if (ok != cases[i].ok) {
            fprintf(stderr, "conf_parse_seconds('%s') = %d\n", cases[i].s, ok);
        }
        CHECK(ok == cases[i].ok);
        if (ok) {
            CHECK_EQ_U(us, cases[i].us);
        }
    }
}

/* The HTTP server's limits, Host list and HTTPS options (issue 23). */
static void
test_http_options(void)
{
    struct conf c;
    struct run r = run_conf(&c, (const char *const[]){NULL});
    CHECK(r.rc == CONF_RUN);
    CHECK_EQ_U(c.http_max_connections, 64);
    CHECK_EQ_U(c.http_header_timeout_us, 30000000);
    CHECK(c.http_allow_host == NULL && c.http_tls_cert == NULL && c.http_tls_key == NULL);
    conf_free(&c);
    run_free(&r);

    /* repeatable and comma lists join; the command line replaces the file's list */
    const char *path = write_file("hosts.ini",
                                  "http_allow_host = a.example\n"
                                  "http_allow_host = b.example,c.example\n"
                                  "http_max_connections = 5\n"
                                  "http_header_timeout = 1.5\n"
                                  "http_tls_cert = /c.pem\n"
                                  "http_tls_key = /k.pem\n",
                                  0600);
    r = run_conf(&c, (const char *const[]){"--config", path, NULL});
    CHECK(r.rc == CONF_RUN);
    CHECK_STR(r.err, "");
    CHECK_STR(c.http_allow_host, "a.example,b.example,c.example");
    CHECK_EQ_U(c.http_max_connections, 5);
    CHECK_EQ_U(c.http_header_timeout_us, 1500000);
    CHECK_STR(c.http_tls_cert, "/c.pem");
    CHECK_STR(c.http_tls_key, "/k.pem");
    conf_free(&c);
    run_free(&r);
    r = run_conf(&c, (const char *const[]){"--config", path, "--http-allow-host", "x.example",
                                           "--http-allow-host", "*,y.example", NULL});
    CHECK(r.rc == CONF_RUN);
    CHECK_STR(c.http_allow_host, "x.example,*,y.example");
    conf_free(&c);
    run_free(&r);

    static const struct {
        const char *args[5];
        const char *err;
    } bad[] = {
        {{"--http-max-connections", "0"},
         "slowtap: --http-max-connections: 0 out of range (1..65536)\n"},
        {{"--http-header-timeout", "0"},
         "slowtap: --http-header-timeout: invalid duration '0' (must be greater than 0)\n"},
        {{"--http-allow-host", "a,,b"},
         "slowtap: --http-allow-host: invalid host list 'a,,b' (expected NAME[,NAME...])\n"},
        {{"--http-allow-host", "a b"},
         "slowtap: --http-allow-host: invalid host list 'a b' (expected NAME[,NAME...])\n"},
        {{"--http-tls-cert", "/c.pem"}, "slowtap: --http-tls-cert: needs --http-tls-key\n"},
        {{"--http-tls-key", "/k.pem"}, "slowtap: --http-tls-key: needs --http-tls-cert\n"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = run_conf(&c, bad[i].args);
        CHECK(r.rc == CONF_EXIT_ERR);
        CHECK_STR(r.err, bad[i].err);
        conf_free(&c);
        run_free(&r);
    }

    /* the shared permission warning: one line for group/other-readable, none for 0600 */
    {
        char *out = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&out, &n);
        conf_warn_readable(f, 0640, "--http-auth-file %s", "/x");
        conf_warn_readable(f, 0600, "--http-auth-file %s", "/y");
        fclose(f);
        CHECK_STR(out, "slowtap: warning: --http-auth-file /x is readable by group or others "
                       "(chmod 600 it)\n");
        free(out);
    }
}

int
main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    unsetenv("SLOWTAP_EXPLAIN_PASSWORD");
    test_defaults();
    test_every_option();
    test_single_options();
    test_file_and_precedence();
    test_passwords();
    test_help_version();
    test_errors();
    test_parse_seconds();
    test_http_options();
    {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) {
            fprintf(stderr, "cannot remove %s\n", tmpdir);
        }
    }
    return check_exit();
}

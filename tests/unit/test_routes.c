/*
 * test_routes.c - per-route statistics (proxy/routes.h): recording, merging, top shapes,
 * requests, overflow and eviction, and the route name taken from tags.
 */
#include "protocol/proto_tags.h"
#include "proxy/account/routes.h"
#include "check.h"

static const struct routes_entry *
find(const struct routes_snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->r[i].route, name) == 0) {
            return &s->r[i];
        }
    }
    return NULL;
}

static void
test_record_merge(void)
{
    struct routes *r = routes_new(100);
    struct routes_local *a = routes_local_new(r, 16), *b = routes_local_new(r, 16);
    for (int i = 0; i < 10; i++) {
        routes_local_record(a, "/roster", 0xA, 1000, false, 5);
        routes_local_record(b, "/roster", 0xB, 100, i == 0, 6);
    }
    routes_local_record(a, "/login", 0xA, 50, false, 7);
    routes_local_request(a, "/roster", 20);
    routes_local_request(b, "/roster", 2);
    struct routes_snapshot s;
    CHECK(routes_snapshot(r, 0, &s));
    CHECK_EQ_U(s.n, 0); /* nothing merged yet */
    routes_snapshot_free(&s);
    routes_local_merge(a);
    routes_local_merge(b);
    CHECK(routes_snapshot(r, 0, &s));
    CHECK_EQ_U(s.n, 2);
    const struct routes_entry *e = find(&s, "/roster");
    CHECK(e != NULL);
    if (e) {
        CHECK(e == &s.r[0]); /* costliest first */
        CHECK_EQ_U(e->count, 20);
        CHECK_EQ_U(e->errors, 1);
        CHECK_EQ_U(e->total_us, 11000);
        CHECK_EQ_U(e->requests, 2);
        CHECK_EQ_U(e->request_stmts, 22);
        CHECK_EQ_U(e->last_seen_us, 6);
        CHECK_EQ_U(hist_count(&e->hist), 20);
        CHECK_EQ_U(e->ntop, 2);
        CHECK_EQ_U(e->top[0].digest, 0xA);
        CHECK_EQ_U(e->top[0].total_us, 10000);
        CHECK_EQ_U(e->top[1].digest, 0xB);
        uint64_t p99 = hist_quantile(&e->hist, 0.99);
        CHECK(p99 >= 900 && p99 <= 1100);
    }
    routes_snapshot_free(&s);
    CHECK(routes_snapshot(r, 1, &s));
    CHECK_EQ_U(s.n, 1);
    routes_snapshot_free(&s);
    routes_local_free(a);
    routes_local_free(b);
    routes_free(r);
}

static void
test_bounded(void)
{
    /* a local table of 4 routes: more in one interval merge at once (the mutex is free) */
    struct routes *r = routes_new(10);
    struct routes_local *l = routes_local_new(r, 4);
    char name[32];
    for (int i = 1; i <= 30; i++) {
        snprintf(name, sizeof name, "/r%d", i);
        routes_local_record(l, name, 1, (uint64_t)i * 100, false, i);
    }
    routes_local_merge(l);
    struct routes_snapshot s;
    CHECK(routes_snapshot(r, 0, &s));
    CHECK_EQ_U(s.n, 10);
    CHECK_EQ_U(s.evicted, 20);
    CHECK(find(&s, "/r30") != NULL);
    CHECK(find(&s, "/r1") == NULL); /* the least costly went */
    routes_snapshot_free(&s);
    /* the top shapes stay bounded and keep the costliest */
    for (uint64_t d = 1; d <= 40; d++) {
        routes_local_record(l, "/many", d, d * 10, false, 1);
    }
    routes_local_merge(l);
    CHECK(routes_snapshot(r, 0, &s));
    const struct routes_entry *e = find(&s, "/many");
    CHECK(e != NULL);
    if (e) {
        CHECK_EQ_U(e->ntop, ROUTES_TOP_SHAPES);
        CHECK_EQ_U(e->top[0].digest, 40);
        CHECK_EQ_U(e->count, 40);
    }
    routes_snapshot_free(&s);
    /* a long name is cut, not overflowing */
    char longname[400];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    routes_local_record(l, longname, 1, 1000000, false, 1);
    routes_local_record(l, longname, 1, 1000000, false, 1);
    routes_local_merge(l);
    CHECK(routes_snapshot(r, 1, &s));
    CHECK_EQ_U(strlen(s.r[0].route), ROUTES_NAME_MAX - 1);
    CHECK_EQ_U(s.r[0].count, 2);
    routes_snapshot_free(&s);
    routes_local_free(l);
    routes_free(r);
}

static void
test_name(void)
{
    struct proto_tags t;
    char out[ROUTES_NAME_MAX];
    const char *q = "SELECT 1 /*controller='roster',route='%2Froster'*/";
    proto_tags_parse(q, strlen(q), 0, &t);
    CHECK(routes_name(&t, out));
    CHECK_STR(out, "/roster");
    const char *m = "SELECT 1 /*application:Shop,controller:posts,action:index*/";
    proto_tags_parse(m, strlen(m), 0, &t);
    CHECK(routes_name(&t, out));
    CHECK_STR(out, "posts#index");
    const char *n = "SELECT 1 /* just a comment */";
    proto_tags_parse(n, strlen(n), 0, &t);
    CHECK(!routes_name(&t, out));
    CHECK_STR(out, "");
    CHECK(!routes_name(NULL, out));
}

int
main(void)
{
    test_record_merge();
    test_bounded();
    test_name();
    return check_exit();
}

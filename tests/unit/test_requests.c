/*
 * test_requests.c - recent requests (proxy/account/requests.h): statements kept in order and
 * cut past the cap, N+1 and duplicate groups, the slowest and latest K per route, lookups by
 * id, and the N+1 examples handed to the findings table.
 */
#include <stdio.h>
#include <stdlib.h>

#include "proxy/account/findings.h"
#include "proxy/account/requests.h"
#include "check.h"

/* A request of `route` starting at `start` (us): one parent, then n children with distinct
 * parameters, each `each_us` long; the last child is repeated once with the same parameters. */
static struct requests_req *
make_req(const char *route, int64_t start, uint32_t n, uint64_t each_us, uint32_t stmts_max)
{
    struct requests_req *r = requests_begin(NULL, start, start + 1000000000, "db", "");
    if (!r) {
        return NULL;
    }
    requests_set_route(r, route);
    char text[64];
    int64_t t = start;
    struct requests_stmt p = {.digest = 0xA, .params = 1, .query_us = each_us, .candidate = true};
    int len = snprintf(text, sizeof text, "SELECT * FROM classes WHERE id = %u", n);
    requests_add(r, stmts_max, &p, text, (size_t)len, false, t += (int64_t)each_us);
    for (uint32_t i = 0; i <= n; i++) {
        uint32_t id = i < n ? i : n - 1; /* the last one again: a duplicate */
        struct requests_stmt c = {.digest = 0xB,
                                  .params = 100 + id,
                                  .offset_us = t - start,
                                  .query_us = each_us,
                                  .rows_sent = 1,
                                  .candidate = true};
        len = snprintf(text, sizeof text, "SELECT * FROM students WHERE id = %u", id);
        requests_add(r, stmts_max, &c, text, (size_t)len, false, t += (int64_t)each_us);
    }
    return r;
}

static void
test_statements_and_groups(void)
{
    struct requests_req *r = make_req("/roster", 0, 600, 10, 1000);
    CHECK(r != NULL);
    if (!r) {
        return;
    }
    CHECK_EQ_U(r->nstmts, 602);
    CHECK_EQ_U(r->nkept, 602);
    CHECK_EQ_U(r->db_us, 6020);
    CHECK_EQ_U(requests_duration_us(r), 6020);
    /* in order, each with its own text */
    CHECK_EQ_U(r->stmts[0].digest, 0xA);
    CHECK(memcmp(r->text + r->stmts[5].text_off, "SELECT * FROM students WHERE id = 4",
                 r->stmts[5].text_len) == 0);
    CHECK_EQ_U(r->stmts[5].text_len, strlen("SELECT * FROM students WHERE id = 4"));
    requests_find_groups(r, 5);
    CHECK_EQ_U(r->ngroups, 2);
    const struct requests_group *np = NULL, *dup = NULL;
    for (uint32_t i = 0; i < r->ngroups; i++) {
        if (r->groups[i].kind == REQUESTS_N_PLUS_ONE) {
            np = &r->groups[i];
        } else {
            dup = &r->groups[i];
        }
    }
    CHECK(np && dup);
    if (np && dup) {
        CHECK_EQ_U(np->parent, 0xA);
        CHECK_EQ_U(np->child, 0xB);
        CHECK_EQ_U(np->count, 600); /* the repeat with equal parameters does not count */
        CHECK_EQ_U(np->parent_idx, 0);
        CHECK_EQ_U(np->first_idx, 1);
        CHECK_EQ_U(dup->child, 0xB);
        CHECK_EQ_U(dup->count, 2);
        CHECK_EQ_U(dup->parent_idx, 600);
        CHECK_EQ_U(dup->first_idx, 601);
    }
    requests_req_free(r);

    /* below the N+1 minimum: no run; a statement with no text; a cap on statements */
    r = make_req("/x", 0, 3, 10, 2);
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ_U(r->nstmts, 5);
        CHECK_EQ_U(r->nkept, 2); /* the rest counted */
        CHECK_EQ_U(r->db_us, 50);
        requests_find_groups(r, 5);
        CHECK_EQ_U(r->ngroups, 0);
        requests_req_free(r);
    }
    /* text longer than REQUESTS_TEXT_MAX is cut and says so */
    r = requests_begin(NULL, 0, 0, "", "");
    if (r) {
        char big[REQUESTS_TEXT_MAX * 2];
        memset(big, 'x', sizeof big);
        struct requests_stmt s = {.digest = 1};
        requests_add(r, 10, &s, big, sizeof big, false, 5);
        requests_add(r, 10, &s, "SELECT 1", 8, true, 6);
        CHECK_EQ_U(r->stmts[0].text_len, REQUESTS_TEXT_MAX);
        CHECK(r->stmts[0].text_cut);
        CHECK(r->stmts[1].text_cut); /* cut on the wire */
        CHECK_EQ_U(r->stmts[1].text_off, REQUESTS_TEXT_MAX);
        requests_req_free(r);
    }
}

static const struct requests_route *
find_route(const struct requests_listing *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->routes[i].route, name) == 0) {
            return &l->routes[i];
        }
    }
    return NULL;
}

static void
test_store_bounded(void)
{
    const unsigned K = 3;
    struct requests *s = requests_new(K, 5, NULL);
    struct requests_local *l = requests_local_new(s);
    CHECK(s && l);
    if (!s || !l) {
        return;
    }
    /* 20 requests of /roster: durations 10..200 us per statement, start times rising; the
     * slowest are #7 (n = 7 * 10), then the latest are the last three */
    uint32_t ns[20] = {5, 9, 2, 30, 4, 6, 3, 50, 8, 7, 1, 2, 40, 3, 2, 2, 1, 6, 5, 4};
    for (int i = 0; i < 20; i++) {
        requests_local_add(l, make_req("/roster", (int64_t)i * 1000000, ns[i], 10, 1000));
    }
    requests_local_add(l, make_req("", 0, 1, 10, 1000)); /* untagged */
    struct requests_listing out;
    CHECK(requests_list(s, NULL, &out));
    CHECK_EQ_U(out.n, 0); /* not merged yet */
    requests_listing_free(&out);
    requests_local_merge(l);
    CHECK(requests_list(s, NULL, &out));
    CHECK_EQ_U(out.n, 2);
    CHECK_EQ_U(out.keep, K);
    CHECK_EQ_U(out.recorded, 21);
    const struct requests_route *rr = find_route(&out, "/roster");
    CHECK(rr != NULL);
    CHECK(find_route(&out, REQUESTS_NO_ROUTE) != NULL);
    uint64_t slow_id = 0;
    if (rr) {
        CHECK(rr == &out.routes[0]); /* the route with the slowest request first */
        CHECK_EQ_U(rr->n, 6);        /* 3 slowest + 3 latest, none in both */
        /* slowest first: 50, 40, 30 children (+2 statements each) */
        CHECK_EQ_U(rr->r[0].nstmts, 52);
        CHECK(rr->r[0].slowest && !rr->r[0].latest);
        CHECK_EQ_U(rr->r[1].nstmts, 42);
        CHECK_EQ_U(rr->r[2].nstmts, 32);
        CHECK_EQ_U(rr->r[0].n_plus_one, 1);
        CHECK_EQ_U(rr->r[0].duplicates, 1);
        slow_id = rr->r[0].id;
        unsigned latest = 0;
        for (size_t i = 0; i < rr->n; i++) {
            latest += rr->r[i].latest;
            if (rr->r[i].latest) {
                CHECK(rr->r[i].start_wall_us >= 17 * 1000000 + 1000000000);
            }
        }
        CHECK_EQ_U(latest, K);
    }
    requests_listing_free(&out);

    /* a deep copy by id, with its statements and groups */
    struct requests_req *g = requests_get(s, slow_id);
    CHECK(g != NULL);
    if (g) {
        CHECK_EQ_U(g->nkept, 52);
        CHECK_EQ_U(g->ngroups, 2);
        CHECK(memcmp(g->text + g->stmts[1].text_off, "SELECT * FROM students WHERE id = 0",
                     g->stmts[1].text_len) == 0);
        requests_req_free(g);
    }
    CHECK(requests_get(s, 999999) == NULL);

    /* one route only */
    CHECK(requests_list(s, "/roster", &out));
    CHECK_EQ_U(out.n, 1);
    requests_listing_free(&out);

    /* many more: still K + K */
    for (int i = 0; i < 200; i++) {
        requests_local_add(l, make_req("/roster", (int64_t)(100 + i) * 1000000, 1, 10, 1000));
        if (i % 50 == 49) {
            requests_local_merge(l);
        }
    }
    requests_local_merge(l);
    CHECK(requests_list(s, "/roster", &out));
    CHECK_EQ_U(out.n, 1);
    if (out.n) {
        CHECK_EQ_U(out.routes[0].n, 2 * K);
        CHECK_EQ_U(out.routes[0].r[0].nstmts, 52); /* the slowest stays */
    }
    requests_listing_free(&out);
    requests_local_free(l);
    requests_free(s);

    /* K = 0: nothing kept */
    s = requests_new(0, 5, NULL);
    l = requests_local_new(s);
    requests_local_add(l, make_req("/a", 0, 1, 10, 1000));
    requests_local_merge(l);
    CHECK(requests_list(s, NULL, &out));
    CHECK_EQ_U(out.n, 0);
    requests_listing_free(&out);
    requests_local_free(l);
    requests_free(s);
}

static void
test_routes_bounded_and_examples(void)
{
    struct findings_table *ft = findings_table_new();
    struct requests *s = requests_new(1, 5, ft);
    struct requests_local *l = requests_local_new(s);
    /* the finding as the session's findings counted it, then its request */
    findings_table_add(ft, FINDINGS_N_PLUS_ONE, 0xA, 0xB, 600, 6000, "/roster", 1);
    requests_local_add(l, make_req("/roster", 0, 600, 10, 1000));
    requests_local_merge(l);
    struct findings_entry *e = NULL;
    uint64_t found[2];
    size_t n = findings_table_snapshot(ft, 0, &e, found);
    CHECK_EQ_U(n, 1);
    if (n) {
        CHECK_STR(e[0].parent_example, "SELECT * FROM classes WHERE id = 600");
        CHECK_STR(e[0].child_example, "SELECT * FROM students WHERE id = 0");
        CHECK_STR(e[0].example_route, "/roster");
    }
    free(e);
    /* more routes than the store keeps: the least recent go */
    char name[32];
    for (int i = 0; i < REQUESTS_ROUTES_MAX + 10; i++) {
        snprintf(name, sizeof name, "/r%d", i);
        requests_local_add(l, make_req(name, (int64_t)(i + 1) * 1000000, 1, 10, 1000));
        requests_local_merge(l);
    }
    struct requests_listing out;
    CHECK(requests_list(s, NULL, &out));
    CHECK_EQ_U(out.n, REQUESTS_ROUTES_MAX);
    CHECK(find_route(&out, "/roster") == NULL);
    CHECK(find_route(&out, "/r0") == NULL);
    snprintf(name, sizeof name, "/r%d", REQUESTS_ROUTES_MAX + 9);
    CHECK(find_route(&out, name) != NULL);
    requests_listing_free(&out);
    requests_local_free(l);
    requests_free(s);
    findings_table_free(ft);
}

/* Requests a worker drops or pushes out come back from requests_begin, clean. */
static void
test_spares(void)
{
    struct requests *s = requests_new(1, 5, NULL);
    struct requests_local *l = requests_local_new(s);
    CHECK(s && l);
    if (!s || !l) {
        return;
    }
    requests_local_add(l, make_req("/a", 0, 6, 10, 1000));
    requests_local_merge(l);
    struct requests_req *r = requests_begin(l, 5, 6, "db", "");
    CHECK(r != NULL); /* nothing pushed out yet: a new one */
    if (r) {
        struct requests_stmt st = {.digest = 7, .candidate = true};
        requests_set_route(r, "/a");
        requests_add(r, 1000, &st, "SELECT 1", 8, false, 9);
        requests_local_add(l, r);
    }
    requests_local_merge(l); /* the first /a request leaves latest (keep 1), stays slowest */
    requests_local_add(l, make_req("/a", 100, 1, 10, 1000));
    requests_local_merge(l); /* the SELECT 1 request is pushed out: a spare */
    struct requests_req *again = requests_begin(l, 50, 60, "x", "");
    CHECK(again == r);
    if (again) {
        CHECK_EQ_U(again->nstmts, 0);
        CHECK_EQ_U(again->nkept, 0);
        CHECK_EQ_U(again->text_len, 0);
        CHECK_EQ_U(again->ngroups, 0);
        CHECK(again->groups == NULL);
        CHECK_EQ_U(again->start_us, 50);
        CHECK_STR(again->schema, "x");
        struct requests_stmt st = {.digest = 8};
        requests_add(again, 1000, &st, "SELECT 22", 9, false, 70);
        CHECK(memcmp(again->text, "SELECT 22", 9) == 0);
        requests_req_free(again);
    }
    requests_local_free(l);
    requests_free(s);
}

/* A worker's full list merges at once (the mutex is free): nothing is dropped. */
static void
test_full_list_merges(void)
{
    struct requests *s = requests_new(500, 5, NULL);
    struct requests_local *l = requests_local_new(s);
    CHECK(s && l);
    if (!s || !l) {
        return;
    }
    for (int i = 0; i < REQUESTS_LOCAL_MAX + 44; i++) {
        requests_local_add(l, make_req("/many", i, 1, 10, 1000));
    }
    struct requests_listing out;
    CHECK(requests_list(s, NULL, &out));
    CHECK_EQ_U(out.recorded, REQUESTS_LOCAL_MAX); /* merged when the list was full */
    requests_listing_free(&out);
    requests_local_merge(l);
    CHECK(requests_list(s, NULL, &out));
    CHECK_EQ_U(out.recorded, REQUESTS_LOCAL_MAX + 44);
    CHECK_EQ_U(out.dropped, 0);
    CHECK_EQ_U(out.n, 1);
    if (out.n) {
        CHECK_EQ_U(out.routes[0].n, REQUESTS_LOCAL_MAX + 44); /* all within K = 500 */
    }
    requests_listing_free(&out);
    requests_local_free(l);
    requests_free(s);
}

int
main(void)
{
    test_spares();
    test_full_list_merges();
    test_statements_and_groups();
    test_store_bounded();
    test_routes_bounded_and_examples();
    return check_exit();
}

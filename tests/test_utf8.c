/*
 * test_utf8.c — the streaming UTF-8 decoder (ts_utf8_stream_*) against
 * CPython's bytes.decode("utf-8", errors="replace"), whose outputs for 335
 * byte strings (hand-picked edge cases + random ones) are in
 * tests/data/tokenizer_cases.utf8.jsonl (tools/tokenizer_oracle/utf8_replace_cases.py).
 * Properties: every way of cutting the input into pushes gives the one-shot
 * result; output never contains a broken sequence; the documented output
 * bound TS_UTF8_STREAM_OUT_MAX holds (buffers are malloc'd to exactly that
 * size so ASan catches any overrun).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct ref_case {
    unsigned char *in, *out;
    size_t n_in, n_out;
} ref_case;

static ref_case *cases;
static size_t n_cases;

static size_t unhex(const char *h, unsigned char *out)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (unsigned char)v;
    }
    return n;
}

static int load_cases(void **state)
{
    (void)state;
    const char *dir = getenv("TS_TEST_DATA");
    char path[4096], err[TS_ERR_SIZE], *data;
    size_t len;
    snprintf(path, sizeof path, "%s/tokenizer_cases.utf8.jsonl", dir ? dir : "tests/data");
    if (ts_read_file(path, &data, &len, err, sizeof err) != TS_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    cases = calloc(1000, sizeof *cases);
    for (char *line = strtok(data, "\n"); line && n_cases < 1000; line = strtok(NULL, "\n")) {
        cJSON *rec = cJSON_Parse(line);
        if (!rec) return -1;
        const char *in = cJSON_GetObjectItem(rec, "in")->valuestring;
        const char *out = cJSON_GetObjectItem(rec, "out")->valuestring;
        ref_case *c = &cases[n_cases++];
        c->in = malloc(strlen(in) / 2 + 1);
        c->out = malloc(strlen(out) / 2 + 1);
        c->n_in = unhex(in, c->in);
        c->n_out = unhex(out, c->out);
        cJSON_Delete(rec);
    }
    free(data);
    return n_cases >= 300 ? 0 : -1;
}

static int free_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < n_cases; i++) free(cases[i].in), free(cases[i].out);
    free(cases);
    return 0;
}

/* Is s[0..n) well-formed UTF-8 (so, never a split sequence)? */
static bool well_formed(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t seq;
        int32_t cp;
        if (ts_utf8_classify((const unsigned char *)s + i, n - i, &seq, &cp) != TS_UTF8_COMPLETE)
            return false;
        i += seq;
    }
    return true;
}

/* Push `in` cut at the given sorted cut points, then flush; returns total output. */
static size_t push_split(const unsigned char *in, size_t n, const size_t *cuts, size_t n_cuts,
                         char *acc)
{
    ts_utf8_stream st = {{0}, 0};
    size_t o = 0, prev = 0;
    for (size_t k = 0; k <= n_cuts; k++) {
        size_t end = k < n_cuts ? cuts[k] : n;
        size_t len = end - prev;
        char *out = malloc(TS_UTF8_STREAM_OUT_MAX(len)); /* exact: ASan sees overruns */
        size_t w = ts_utf8_stream_push(&st, (const char *)in + prev, len, out);
        assert_true(w <= TS_UTF8_STREAM_OUT_MAX(len));
        assert_true(well_formed(out, w));
        assert_true(st.n_pending <= 3);
        memcpy(acc + o, out, w);
        o += w;
        free(out);
        prev = end;
    }
    char *out = malloc(3);
    size_t w = ts_utf8_stream_flush(&st, out);
    assert_true(w <= 3);
    memcpy(acc + o, out, w);
    free(out);
    assert_int_equal(st.n_pending, 0);
    return o + w;
}

static void test_one_shot_matches_cpython(void **state)
{
    (void)state;
    for (size_t i = 0; i < n_cases; i++) {
        const ref_case *c = &cases[i];
        char *out = malloc(TS_UTF8_STREAM_OUT_MAX(c->n_in));
        size_t n = ts_utf8_replace((const char *)c->in, c->n_in, out);
        if (n != c->n_out || memcmp(out, c->out, n) != 0) fail_msg("case %zu differs from CPython", i);
        free(out);
    }
}

static void test_every_single_split(void **state)
{
    (void)state;
    char *acc = malloc(4096);
    for (size_t i = 0; i < n_cases; i++) {
        const ref_case *c = &cases[i];
        for (size_t cut = 0; cut <= c->n_in; cut++) {
            size_t n = push_split(c->in, c->n_in, &cut, 1, acc);
            if (n != c->n_out || memcmp(acc, c->out, n) != 0)
                fail_msg("case %zu split at %zu differs from one-shot", i, cut);
        }
    }
    free(acc);
}

static void test_byte_by_byte_and_random_splits(void **state)
{
    (void)state;
    char *acc = malloc(4096);
    size_t cuts[64];
    uint64_t seed = 12345;
    for (size_t i = 0; i < n_cases; i++) {
        const ref_case *c = &cases[i];
        if (c->n_in > 64) continue;
        for (size_t k = 0; k < c->n_in; k++) cuts[k] = k; /* every byte alone (plus empty push) */
        size_t n = push_split(c->in, c->n_in, cuts, c->n_in, acc);
        assert_int_equal(n, c->n_out);
        assert_memory_equal(acc, c->out, n);
        for (int rep = 0; rep < 20; rep++) {
            size_t nc = 0;
            for (size_t k = 1; k < c->n_in; k++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                if ((seed >> 33) % 3 == 0) cuts[nc++] = k;
            }
            n = push_split(c->in, c->n_in, cuts, nc, acc);
            assert_int_equal(n, c->n_out);
            assert_memory_equal(acc, c->out, n);
        }
    }
    free(acc);
}

/* The worst case of the output bound: held prefix + bytes that are all bad. */
static void test_output_bound(void **state)
{
    (void)state;
    ts_utf8_stream st = {{0}, 0};
    char out[64];
    assert_int_equal(ts_utf8_stream_push(&st, "\xf0\x9f\x98", 3, out), 0);
    assert_int_equal(st.n_pending, 3);
    size_t w = ts_utf8_stream_push(&st, "\xff\xff", 2, out);
    assert_int_equal(w, 9); /* FFFD for the held prefix, one per 0xFF */
    assert_true(w <= TS_UTF8_STREAM_OUT_MAX(2));
    assert_memory_equal(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9);
    assert_int_equal(ts_utf8_stream_flush(&st, out), 0);
    /* A character completed across three pushes comes out whole, once. */
    assert_int_equal(ts_utf8_stream_push(&st, "a\xe2", 2, out), 1);
    assert_int_equal(ts_utf8_stream_push(&st, "\x82", 1, out), 0);
    assert_int_equal(ts_utf8_stream_push(&st, "\xac!", 2, out), 4);
    assert_memory_equal(out, "\xe2\x82\xac!", 4);
    /* A held prefix at the end becomes one U+FFFD. */
    assert_int_equal(ts_utf8_stream_push(&st, "\xe2\x82", 2, out), 0);
    assert_int_equal(ts_utf8_stream_flush(&st, out), 3);
    assert_memory_equal(out, "\xef\xbf\xbd", 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_shot_matches_cpython),
        cmocka_unit_test(test_every_single_split),
        cmocka_unit_test(test_byte_by_byte_and_random_splits),
        cmocka_unit_test(test_output_bound),
    };
    return cmocka_run_group_tests_name("utf8_stream", tests, load_cases, free_cases) ? 1 : 0;
}

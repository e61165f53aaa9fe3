/*
 * test_request.c — the request layer's contracts (src/request/):
 *   - computing never prints: every analysis, and the API handler, run with
 *     stdout and stderr redirected to files that must stay empty;
 *   - the generation path allocates per sample, never per token: the number
 *     of allocations of a generate request does not grow with its length;
 *   - the text (CLI) and JSON paths set the same values and reject bad values
 *     with the same message; unknown fields get a suggestion; a field given
 *     twice, an empty list item and a wrong JSON type are refused;
 *   - a session's contexts run requests concurrently with results identical
 *     to running them one after another, and a full queue answers BUSY;
 *   - calibrate (no HTTP route) gives the same JSON from text and JSON fields.
 * Uses the bundled model (TEMPSCALE_MODELS) and tests/data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "tempscale.h"
#include "tempscale_request.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- allocation counting (not under ASan, which owns malloc) ---------------- */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNT_ALLOCS 0
#endif
#endif
#ifndef COUNT_ALLOCS
#define COUNT_ALLOCS 1
#endif

#if COUNT_ALLOCS
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
static atomic_long g_allocs;

void *malloc(size_t n)
{
    atomic_fetch_add(&g_allocs, 1);
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t size)
{
    atomic_fetch_add(&g_allocs, 1);
    return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n)
{
    atomic_fetch_add(&g_allocs, 1);
    return __libc_realloc(p, n);
}
#endif

static ts_session *g_session;
static char g_data[1024];

static const char *data_path(const char *name)
{
    static char buf[2][2048];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_data, name);
    return buf[k];
}

static int setup(void **state)
{
    (void)state;
    const char *models = getenv("TEMPSCALE_MODELS");
    const char *data = getenv("TS_TEST_DATA");
    snprintf(g_data, sizeof g_data, "%s", data ? data : "tests/data");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tiny-shakespeare", models ? models : "models");
    ts_session_params p = ts_session_default_params();
    p.model_dir = dir;
    p.n_slots = 2;
    p.n_threads = 1;
    char err[TS_ERR_SIZE] = "";
    if (ts_session_open(&p, &g_session, err, sizeof err) != TS_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ts_session_free(g_session);
    return 0;
}

/* A request from JSON text; fails the test on error. */
static ts_request *from_json(const char *analysis, const char *json)
{
    ts_request *r = NULL;
    char err[TS_ERR_SIZE] = "";
    ts_status st = ts_request_from_json(ts_analysis_find(analysis), json, strlen(json), &r, err,
                                        sizeof err);
    if (st != TS_OK) fail_msg("%s %s: %s", analysis, json, err);
    return r;
}

static char *run_json(const ts_request *r)
{
    ts_result *res = NULL;
    char err[TS_ERR_SIZE] = "";
    ts_status st = ts_request_run(r, g_session, NULL, &res, err, sizeof err);
    if (st != TS_OK) fail_msg("%s: %s", ts_analysis_name(ts_request_analysis(r)), err);
    char *js = ts_result_json(res);
    assert_non_null(js);
    ts_result_free(res);
    return js;
}

/* ---- computing never prints ------------------------------------------------- */

static void test_no_print(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"softmax", "{\"logits\":[1,2,3],\"temperatures\":[0,1,\"inf\"]}"},
        {"tokenize", "{\"text\":\"Hello \\u00e9\"}"},
        {"top", "{\"prompt\":\"ROMEO:\",\"k\":5}"},
        {"sample", "{\"prompt\":\"ROMEO:\",\"n\":20,\"seed\":1}"},
        {"sweep", "{\"prompt\":\"ROMEO:\",\"target_entropy\":[1,2]}"},
        {"generate", "{\"prompt\":\"ROMEO:\",\"max_new_tokens\":8,\"seed\":1,\"verbose\":true}"},
        {"compare", "{\"prompt\":[\"A\",\"B\"],\"max_new_tokens\":4,\"samples\":1,\"seed\":1}"},
        {"calibrate", NULL}, /* paths filled below */
    };
    char calib[4096];
    snprintf(calib, sizeof calib, "{\"val\":\"%s\",\"test\":\"%s\"}", data_path("calib_val.csv"),
             data_path("calib_test.csv"));
    char out_path[] = "/tmp/test_request_out.XXXXXX";
    int fd = mkstemp(out_path);
    assert_true(fd >= 0);
    fflush(stdout);
    fflush(stderr);
    int saved1 = dup(1), saved2 = dup(2);
    dup2(fd, 1);
    dup2(fd, 2);
    int failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *json = cases[i][1] ? cases[i][1] : calib;
        ts_request *r = NULL;
        char err[TS_ERR_SIZE] = "";
        ts_result *res = NULL;
        ts_doc *doc = ts_doc_new(); /* rendering into a document prints nothing either */
        ts_run_opts ro = {NULL, NULL, doc, -1};
        if (ts_request_from_json(ts_analysis_find(cases[i][0]), json, strlen(json), &r, err,
                                 sizeof err) != TS_OK ||
            ts_request_run(r, g_session, &ro, &res, err, sizeof err) != TS_OK ||
            ts_result_doc(res, doc, true) != TS_OK)
            failures++;
        char *js = res ? ts_result_json(res) : NULL;
        free(js);
        ts_result_free(res);
        ts_doc_free(doc);
        ts_request_free(r);
        /* Bad input too: an error message goes to the buffer, not the terminal. */
        r = NULL;
        ts_request_from_json(ts_analysis_find(cases[i][0]), "{\"k\":\"x\"}", 9, &r, err,
                             sizeof err);
        ts_request_free(r);
    }
    static const char *const api[][3] = {
        {"POST", "/v1/completions", "{\"prompt\":\"ROMEO:\",\"max_tokens\":5,\"seed\":2}"},
        {"POST", "/v1/completions", "{\"prompt\":[1,2,3],\"temperature\":-1}"},
        {"GET", "/v1/models", ""},
        {"POST", "/api/top", "{\"k\":"},
        {"POST", "/nowhere", "{}"},
    };
    for (size_t i = 0; i < sizeof api / sizeof api[0]; i++) {
        ts_api_response resp;
        ts_api_handle(g_session, api[i][0], api[i][1], api[i][2], strlen(api[i][2]), NULL, &resp);
        ts_api_response_clear(&resp);
    }
    fflush(stdout);
    fflush(stderr);
    dup2(saved1, 1);
    dup2(saved2, 2);
    close(saved1);
    close(saved2);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    close(fd);
    unlink(out_path);
    assert_int_equal(failures, 0);
    assert_int_equal((int)st.st_size, 0);
}

/* ---- allocations do not grow with the number of tokens ------------------------ */

#if COUNT_ALLOCS
static long allocs_of_generate(int n_tokens, size_t *n_generated)
{
    char json[256];
    snprintf(json, sizeof json,
             "{\"prompt\":\"KING RICHARD:\",\"temperature\":0,\"max_new_tokens\":%d,\"seed\":1}",
             n_tokens);
    ts_request *r = from_json("generate", json);
    ts_doc *doc = ts_doc_new();
    ts_doc_set_keep(doc, false); /* streaming, as the CLI runs it */
    ts_run_opts ro = {NULL, NULL, doc, -1};
    ts_result *res = NULL;
    char err[TS_ERR_SIZE] = "";
    long before = atomic_load(&g_allocs);
    ts_status st = ts_request_run(r, g_session, &ro, &res, err, sizeof err);
    long used = atomic_load(&g_allocs) - before;
    assert_int_equal(st, TS_OK);
    char *js = ts_result_json(res);
    *n_generated = strstr(js, "\"finish_reason\":\"length\"") ? (size_t)n_tokens : 0;
    free(js);
    ts_result_free(res);
    ts_doc_free(doc);
    ts_request_free(r);
    return used;
}
#endif

static void test_no_alloc_per_token(void **state)
{
    (void)state;
#if COUNT_ALLOCS
    size_t n8, n64;
    allocs_of_generate(8, &n8); /* first use: one-time set-up (the slot's buffers) */
    long a8 = allocs_of_generate(8, &n8), a64 = allocs_of_generate(64, &n64);
    /* Both ran to max_new_tokens (greedy text on this prompt does not end). */
    assert_int_equal(n8, 8);
    assert_int_equal(n64, 64);
    if (a8 != a64) fail_msg("generate allocated %ld times for 8 tokens, %ld for 64", a8, a64);
#else
    skip();
#endif
}

/* ---- text and JSON paths agree ------------------------------------------------ */

static void test_same_messages(void **state)
{
    (void)state;
    static const char *const cases[][4] = {
        /* analysis, field, CLI text, JSON value */
        {"generate", "top_p", "1.5", "1.5"},
        {"generate", "temperature", "-1", "-1"},
        {"top", "k", "0", "0"},
        {"sweep", "temperatures", "1,-2", "[1,-2]"},
        {"generate", "order", "xyz", "\"xyz\""},
        {"softmax", "logits", "1,inf", "[1,\"inf\"]"},
        {"generate", "max_new_tokens", "2000000", "2000000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const ts_analysis *a = ts_analysis_find(cases[i][0]);
        ts_request *r = NULL;
        char e1[TS_ERR_SIZE] = "", e2[TS_ERR_SIZE] = "", json[256];
        assert_int_equal(ts_request_new(a, &r, e1, sizeof e1), TS_OK);
        assert_int_equal(ts_request_set(r, cases[i][1], cases[i][2], e1, sizeof e1),
                         TS_ERR_INVALID);
        ts_request_free(r);
        snprintf(json, sizeof json, "{\"%s\":%s}", cases[i][1], cases[i][3]);
        r = NULL;
        assert_int_not_equal(ts_request_from_json(a, json, strlen(json), &r, e2, sizeof e2), TS_OK);
        assert_null(r);
        if (strcmp(e1, e2) != 0) fail_msg("text: '%s'\njson: '%s'", e1, e2);
        assert_true(strncmp(e1, cases[i][1], strlen(cases[i][1])) == 0); /* names the field */
    }
    /* Unknown fields get a suggestion; twice, empty items and types are refused. */
    const ts_analysis *gen = ts_analysis_find("generate");
    ts_request *r = NULL;
    char err[TS_ERR_SIZE] = "";
    assert_int_equal(ts_request_new(gen, &r, err, sizeof err), TS_OK);
    assert_int_equal(ts_request_set(r, "max_new_token", "5", err, sizeof err), TS_ERR_INVALID);
    assert_non_null(strstr(err, "did you mean max_new_tokens?"));
    assert_int_equal(ts_request_set(r, "top-k", "5", err, sizeof err), TS_OK);
    assert_int_equal(ts_request_set(r, "top_k", "6", err, sizeof err), TS_ERR_INVALID);
    assert_non_null(strstr(err, "given twice"));
    ts_request_free(r);
    r = NULL;
    assert_int_equal(ts_request_new(ts_analysis_find("sweep"), &r, err, sizeof err), TS_OK);
    assert_int_equal(ts_request_set(r, "temperatures", "1,,2", err, sizeof err), TS_ERR_INVALID);
    assert_string_equal(err, "temperatures: item 2 is empty");
    ts_request_free(r);
    r = NULL;
    assert_int_not_equal(ts_request_from_json(gen, "{\"seed\":\"x\"}", 12, &r, err, sizeof err),
                         TS_OK);
    assert_non_null(strstr(err, "seed:"));
    assert_int_not_equal(ts_request_from_json(gen, "{\"verbose\":1}", 13, &r, err, sizeof err),
                         TS_OK);
    assert_string_equal(err, "verbose: expected true or false, got a number");
    assert_int_not_equal(ts_request_from_json(gen, "[1]", 3, &r, err, sizeof err), TS_OK);
    assert_int_not_equal(ts_request_from_json(gen, "{\"top_kk\":1}", 12, &r, err, sizeof err),
                         TS_OK);
    assert_non_null(strstr(err, "did you mean top_k?"));
}

/* The same fields set as text and as JSON give the same JSON result. */
static void test_text_json_parity(void **state)
{
    (void)state;
    const ts_analysis *a = ts_analysis_find("calibrate");
    ts_request *t = NULL;
    char err[TS_ERR_SIZE] = "", json[4096];
    assert_int_equal(ts_request_new(a, &t, err, sizeof err), TS_OK);
    assert_int_equal(ts_request_set(t, "val", data_path("calib_val.csv"), err, sizeof err), TS_OK);
    assert_int_equal(ts_request_set(t, "test", data_path("calib_test.csv"), err, sizeof err), TS_OK);
    assert_int_equal(ts_request_set(t, "bins", "10", err, sizeof err), TS_OK);
    snprintf(json, sizeof json, "{\"val\":\"%s\",\"test\":\"%s\",\"bins\":10}",
             data_path("calib_val.csv"), data_path("calib_test.csv"));
    ts_request *j = from_json("calibrate", json);
    char *a1 = run_json(t), *a2 = run_json(j);
    assert_string_equal(a1, a2);
    /* And the reproducing command line names exactly the fields set. */
    char *cmd = ts_request_command_line(t, NULL);
    assert_non_null(strstr(cmd, "tempscale calibrate --val "));
    assert_non_null(strstr(cmd, " --bins 10"));
    free(cmd);
    free(a1);
    free(a2);
    ts_request_free(t);
    ts_request_free(j);
}

/* ---- one model, several contexts ------------------------------------------------ */

typedef struct job {
    const char *json;
    char *out;
} job;

static void *run_job(void *arg)
{
    job *jb = arg;
    ts_request *r = NULL;
    char err[TS_ERR_SIZE] = "";
    if (ts_request_from_json(ts_analysis_find("generate"), jb->json, strlen(jb->json), &r, err,
                             sizeof err) == TS_OK) {
        ts_result *res = NULL;
        if (ts_request_run(r, g_session, NULL, &res, err, sizeof err) == TS_OK)
            jb->out = ts_result_json(res);
        ts_result_free(res);
    }
    ts_request_free(r);
    return NULL;
}

static void test_concurrent_slots(void **state)
{
    (void)state;
    job jobs[4] = {
        {"{\"prompt\":\"ROMEO:\",\"max_new_tokens\":40,\"seed\":1}", NULL},
        {"{\"prompt\":\"JULIET: O\",\"max_new_tokens\":40,\"seed\":2,\"temperature\":0.7}", NULL},
        {"{\"prompt\":\"KING:\",\"max_new_tokens\":30,\"seed\":3,\"top_p\":0.9}", NULL},
        {"{\"ids\":[464,2068],\"max_new_tokens\":30,\"seed\":4}", NULL},
    };
    char *seq[4];
    for (int i = 0; i < 4; i++) {
        run_job(&jobs[i]);
        assert_non_null(jobs[i].out);
        seq[i] = jobs[i].out;
        jobs[i].out = NULL;
    }
    pthread_t th[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        assert_non_null(jobs[i].out);
        assert_string_equal(jobs[i].out, seq[i]);
        free(jobs[i].out);
        free(seq[i]);
    }
}

typedef struct probe {
    ts_session *s;
    ts_request *r;
    int timeout_ms;
    ts_status inner;
    int calls;
} probe;

/* From inside a run (its context taken), run another request on the same session. */
static int nested_run(const ts_event *ev, void *user)
{
    probe *p = user;
    if (ev->kind == TS_EV_TOKEN && p->calls++ == 0) {
        ts_result *res = NULL;
        char err[TS_ERR_SIZE] = "";
        ts_run_opts ro = {NULL, NULL, NULL, p->timeout_ms};
        p->inner = ts_request_run(p->r, p->s, &ro, &res, err, sizeof err);
        ts_result_free(res);
    }
    return 0;
}

static void test_busy(void **state)
{
    (void)state;
    char dir[1024], err[TS_ERR_SIZE] = "";
    const char *models = getenv("TEMPSCALE_MODELS");
    snprintf(dir, sizeof dir, "%s/tiny-shakespeare", models ? models : "models");
    for (int k = 0; k < 2; k++) {
        ts_session_params p = ts_session_default_params();
        p.model_dir = dir;
        p.n_slots = 1;
        p.max_queue = k == 0 ? 0 : -1; /* no queue / a queue, with a 30 ms wait */
        ts_session *s = NULL;
        assert_int_equal(ts_session_open(&p, &s, err, sizeof err), TS_OK);
        assert_string_equal(ts_session_model_name(s), "tiny-shakespeare");
        ts_request *r = from_json("generate", "{\"max_new_tokens\":3,\"seed\":1}");
        probe pr = {s, r, k == 0 ? -1 : 30, TS_OK, 0};
        ts_run_opts ro = {nested_run, &pr, NULL, -1};
        ts_result *res = NULL;
        assert_int_equal(ts_request_run(r, s, &ro, &res, err, sizeof err), TS_OK);
        assert_int_equal(pr.calls, 3);
        assert_int_equal(pr.inner, TS_ERR_BUSY);
        ts_result_free(res);
        /* Free again: the same request runs. */
        assert_int_equal(ts_request_run(r, s, NULL, &res, err, sizeof err), TS_OK);
        ts_result_free(res);
        ts_request_free(r);
        ts_session_free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_print),          cmocka_unit_test(test_no_alloc_per_token),
        cmocka_unit_test(test_same_messages),     cmocka_unit_test(test_text_json_parity),
        cmocka_unit_test(test_concurrent_slots),  cmocka_unit_test(test_busy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

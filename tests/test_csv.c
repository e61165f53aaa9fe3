/*
 * test_csv.c — the logits CSV reader: good files parse to the exact floats
 * strtof gives, and every malformed file fails with "path:line" and a reason.
 */
#include "internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

static char tmp_path[4096];

static const char *write_tmp(const char *content)
{
    const char *dir = getenv("TMPDIR");
    snprintf(tmp_path, sizeof tmp_path, "%s/test_csv_%d.csv", dir ? dir : "/tmp", (int)getpid());
    FILE *f = fopen(tmp_path, "wb");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    return tmp_path;
}

static void test_good(void **state)
{
    (void)state;
    const char *p = write_tmp("label, logit_0,logit_1,logit_2\r\n"
                              "2,0.5,-1.25,3e2\r\n"
                              "\r\n"
                              "0 , 1 ,2,  -0.1\n"
                              "1.0,0,0,0"); /* "1.0" is the integer 1; no final newline */
    float *z;
    int32_t *y;
    size_t n, k;
    char err[TS_ERR_SIZE] = "";
    if (ts_csv_read_logits(p, &z, &y, &n, &k, err, sizeof err) != TS_OK) fail_msg("%s", err);
    assert_int_equal(n, 3);
    assert_int_equal(k, 3);
    const float want[9] = {0.5f, -1.25f, 300.0f, 1.0f, 2.0f, -0.1f, 0, 0, 0};
    assert_memory_equal(z, want, sizeof want);
    assert_int_equal(y[0], 2);
    assert_int_equal(y[1], 0);
    assert_int_equal(y[2], 1);
    free(z);
    free(y);
    remove(p);
}

/* content must fail; the message must contain "path:line" and needle. */
static void expect_bad(const char *content, int line, const char *needle)
{
    const char *p = write_tmp(content);
    float *z = (float *)1;
    int32_t *y = (int32_t *)1;
    size_t n, k;
    char err[TS_ERR_SIZE] = "", where[4200];
    ts_status st = ts_csv_read_logits(p, &z, &y, &n, &k, err, sizeof err);
    if (st != TS_ERR_FORMAT) fail_msg("expected a format error for %s, got %d (%s)", content, st, err);
    assert_null(z);
    assert_null(y);
    snprintf(where, sizeof where, "%s:%d:", p, line);
    if (!strstr(err, where) || !strstr(err, needle))
        fail_msg("message '%s' lacks '%s' or '%s'", err, where, needle);
    assert_null(strchr(err, '\n'));
    remove(p);
}

static void test_bad(void **state)
{
    (void)state;
    expect_bad("", 1, "empty file");
    expect_bad("\n\n", 1, "empty file");
    expect_bad("label,logit_0,logit_1\n", 1, "no data rows");
    expect_bad("0,1.0,2.0\n1,2,3\n", 1, "header missing");
    expect_bad(",label,logit_0,logit_1\n", 1, "index=False");
    expect_bad("y,a,b\n0,1,2\n", 1, "expected 'label'");
    expect_bad("label,logit_0\n0,1\n", 1, "K >= 2");
    expect_bad("label,logit_0,logit_1\n0,1,2\n1,2\n", 3, "2 columns, the header has 3");
    expect_bad("label,logit_0,logit_1\n0,1,2\n1,2,3,4\n", 3, "4 columns, the header has 3");
    expect_bad("label,logit_0,logit_1\n0,1,abc\n", 2, "'abc' is not a number");
    expect_bad("label,logit_0,logit_1\n0,1,\n", 2, "column 3 is empty");
    expect_bad("label,logit_0,logit_1\n0,1,2\n\n0,nan,2\n", 4, "not finite");
    expect_bad("label,logit_0,logit_1\n0,1,inf\n", 2, "not finite");
    expect_bad("label,logit_0,logit_1\n0,1,1e39\n", 2, "not finite");
    expect_bad("label,logit_0,logit_1\n2,1,2\n", 2, "out of range [0, 2)");
    expect_bad("label,logit_0,logit_1\n-1,1,2\n", 2, "out of range");
    expect_bad("label,logit_0,logit_1\n0.5,1,2\n", 2, "not an integer");
    expect_bad("label,logit_0,logit_1\ncat,1,2\n", 2, "not an integer");
}

static void test_missing_file(void **state)
{
    (void)state;
    float *z;
    int32_t *y;
    size_t n, k;
    char err[TS_ERR_SIZE] = "";
    assert_int_equal(ts_csv_read_logits("/nonexistent/x.csv", &z, &y, &n, &k, err, sizeof err),
                     TS_ERR_IO);
    assert_non_null(strstr(err, "/nonexistent/x.csv"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

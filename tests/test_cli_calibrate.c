/*
 * test_cli_calibrate.c — `tempscale calibrate` end to end (the binary in TS_CLI):
 * --json equals the library's numbers (to the last printed digit), CSV and .npy
 * inputs give identical output, every bad input exits 2 with one stderr line
 * naming the file and line (CSV) or row (.npy), probabilities are refused with
 * the np.log hint, and --plot writes a PNG (or nothing on error).
 */
#include "internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[1024], tmp[1024];
static char *out_text, *err_text;

static const char *data(const char *name)
{
    static char buf[4][2048];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

/* Run `tempscale calibrate ARGS`; returns the exit code, fills out_text / err_text. */
static int run(const char *args)
{
    const char *cli = getenv("TS_CLI");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' calibrate %s >'%s/out' 2>'%s/err'", cli ? cli : "tempscale",
             args, tmp, tmp);
    int st = system(cmd);
    free(out_text);
    free(err_text);
    char p[2048], e[TS_ERR_SIZE];
    size_t n;
    snprintf(p, sizeof p, "%s/out", tmp);
    if (ts_read_file(p, &out_text, &n, e, sizeof e) != TS_OK) out_text = strdup("");
    snprintf(p, sizeof p, "%s/err", tmp);
    if (ts_read_file(p, &err_text, &n, e, sizeof e) != TS_OK) err_text = strdup("");
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *write_tmp(const char *name, const char *content)
{
    static char p[2048];
    snprintf(p, sizeof p, "%s/%s", tmp, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    return p;
}

static double jget(const cJSON *root, const char *set, const char *key)
{
    const cJSON *o = set ? cJSON_GetObjectItemCaseSensitive(root, set) : root;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) fail_msg("JSON lacks %s.%s:\n%s", set ? set : "", key, out_text);
    return v->valuedouble;
}

static void same(double a, double b, const char *what)
{
    if (!(fabs(a - b) <= 1e-15 * fmax(1.0, fabs(b)))) fail_msg("%s: CLI %.17g, library %.17g", what, a, b);
}

static void check_set(const cJSON *root, const char *set, const char *csv, double t)
{
    float *z;
    int32_t *y;
    size_t n, k;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_csv_read_logits(data(csv), &z, &y, &n, &k, err, sizeof err), TS_OK);
    ts_calib_metrics b, a;
    assert_int_equal(ts_calib_metrics_compute(z, y, n, k, 1.0, 15, &b, err, sizeof err), TS_OK);
    assert_int_equal(ts_calib_metrics_compute(z, y, n, k, t, 15, &a, err, sizeof err), TS_OK);
    same(jget(root, set, "nll_before"), b.nll, "nll_before");
    same(jget(root, set, "nll_after"), a.nll, "nll_after");
    same(jget(root, set, "ece_before"), b.ece, "ece_before");
    same(jget(root, set, "ece_after"), a.ece, "ece_after");
    same(jget(root, set, "mce_before"), b.mce, "mce_before");
    same(jget(root, set, "mce_after"), a.mce, "mce_after");
    same(jget(root, set, "ace_before"), b.ace, "ace_before");
    same(jget(root, set, "ace_after"), a.ace, "ace_after");
    same(jget(root, set, "brier_before"), b.brier, "brier_before");
    same(jget(root, set, "brier_after"), a.brier, "brier_after");
    same(jget(root, set, "accuracy"), a.accuracy, "accuracy");
    assert_true(a.accuracy == b.accuracy);
    free(z);
    free(y);
}

static void test_json_matches_library(void **state)
{
    (void)state;
    char args[4096];
    snprintf(args, sizeof args, "--val '%s' --test '%s' --json", data("calib_val.csv"),
             data("calib_test.csv"));
    assert_int_equal(run(args), 0);
    cJSON *root = cJSON_Parse(out_text);
    if (!root) fail_msg("not JSON: %s", out_text);
    /* Exactly these keys. */
    const char *top[8] = {"temperature", "iterations", "converged", "bins",
                          "val",         "test",       "intervals", "methods"};
    int n_keys = 0;
    for (const cJSON *it = root->child; it; it = it->next) n_keys++;
    assert_int_equal(n_keys, 8);
    for (int i = 0; i < 8; i++) assert_non_null(cJSON_GetObjectItemCaseSensitive(root, top[i]));
    /* The T* interval holds T*; the test set's ECE interval holds its ECE. */
    const cJSON *iv = cJSON_GetObjectItemCaseSensitive(root, "intervals");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(iv, "temperature");
    double t_star = cJSON_GetObjectItemCaseSensitive(root, "temperature")->valuedouble;
    assert_true(cJSON_GetObjectItemCaseSensitive(ts, "lo")->valuedouble <= t_star);
    assert_true(cJSON_GetObjectItemCaseSensitive(ts, "hi")->valuedouble >= t_star);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "methods")), 4);
    float *z;
    int32_t *y;
    size_t n, k;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_csv_read_logits(data("calib_val.csv"), &z, &y, &n, &k, err, sizeof err),
                     TS_OK);
    ts_calib_fit fit;
    assert_int_equal(ts_calib_fit_temperature(z, y, n, k, &fit, err, sizeof err), TS_OK);
    free(z);
    free(y);
    same(jget(root, NULL, "temperature"), fit.temperature, "temperature");
    assert_int_equal((int)jget(root, NULL, "iterations"), fit.iterations);
    check_set(root, "val", "calib_val.csv", fit.temperature);
    check_set(root, "test", "calib_test.csv", fit.temperature);
    cJSON_Delete(root);
}

static void test_csv_and_npy_same_output(void **state)
{
    (void)state;
    char args[4096];
    snprintf(args, sizeof args, "--val '%s' --test '%s' --json", data("calib_val.csv"),
             data("calib_test.csv"));
    assert_int_equal(run(args), 0);
    char *csv_out = strdup(out_text);
    snprintf(args, sizeof args,
             "--logits '%s' --labels '%s' --test '%s' --test-labels '%s' --json",
             data("calib_val_logits.npy"), data("calib_val_labels.npy"),
             data("calib_test_logits.npy"), data("calib_test_labels.npy"));
    assert_int_equal(run(args), 0);
    assert_string_equal(out_text, csv_out);
    free(csv_out);
    /* Human output: a table with both sets. */
    snprintf(args, sizeof args, "--val '%s' --test '%s'", data("calib_val.csv"),
             data("calib_test.csv"));
    assert_int_equal(run(args), 0);
    assert_non_null(strstr(out_text, "T* = 1.8535"));
    assert_non_null(strstr(out_text, "TEST T*"));
    assert_non_null(strstr(out_text, "adaptive ECE"));
}

/* args must exit 2 with exactly one stderr line containing every needle. */
static void expect_usage(const char *args, const char *n1, const char *n2)
{
    int rc = run(args);
    if (rc != 2) fail_msg("exit %d (want 2) for: %s\nstderr: %s", rc, args, err_text);
    if (!strstr(err_text, n1) || (n2 && !strstr(err_text, n2)))
        fail_msg("stderr '%s' lacks '%s' / '%s'", err_text, n1, n2 ? n2 : "");
    const char *nl = strchr(err_text, '\n');
    if (!nl || nl[1] != '\0') fail_msg("stderr is not one line: '%s'", err_text);
    assert_string_equal(out_text, "");
}

static void test_bad_inputs_exit_2(void **state)
{
    (void)state;
    char args[4096], where[2100];
    struct {
        const char *content;
        int line;
        const char *needle;
    } cases[] = {
        {"label,logit_0,logit_1\n0,1,2\n1,2\n", 3, "columns"},            /* ragged */
        {"label,logit_0,logit_1\n0,1,2\n1,x,2\n", 3, "not a number"},     /* non-numeric */
        {"label,logit_0,logit_1\n0,1,2\n5,1,2\n", 3, "out of range"},     /* label range */
        {"label,logit_0,logit_1\n0.5,1,2\n", 2, "not an integer"},        /* label type */
        {"label,logit_0\n0,1\n1,2\n", 1, "K >= 2"},                       /* K = 1 */
        {"", 1, "empty file"},                                            /* empty */
        {"0,1,2\n1,2,3\n", 1, "header missing"},                          /* no header */
        {"label,logit_0,logit_1\n0,1,2\n1,NaN,2\n", 3, "not finite"},     /* NaN */
        {"label,logit_0,logit_1\n0,1,2\n1,2,-inf\n", 3, "not finite"},    /* inf */
        {"label,logit_0,logit_1\n0,0.25,0.75\n1,0.5,0.5\n", 0, "np.log(p)"}, /* probabilities */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = write_tmp("bad.csv", cases[i].content);
        if (cases[i].line) snprintf(where, sizeof where, "%s:%d:", p, cases[i].line);
        else snprintf(where, sizeof where, "%s:", p);
        snprintf(args, sizeof args, "--val '%s'", p);
        expect_usage(args, where, cases[i].needle);
        /* The same file as --test (with a good --val) fails the same way. */
        snprintf(args, sizeof args, "--val '%s' --test '%s' --json", data("calib_val.csv"), p);
        expect_usage(args, where, cases[i].needle);
    }
    /* .npy: rows play the part of lines. */
    char zp[1200], yp[1200], e[TS_ERR_SIZE];
    snprintf(zp, sizeof zp, "%s/z.npy", tmp);
    snprintf(yp, sizeof yp, "%s/y.npy", tmp);
    const float zbad[6] = {1, 2, 3, 4, NAN, 6}, ybad[3] = {0, 7, 1};
    const size_t zs[2] = {3, 2}, ys[1] = {3};
    assert_int_equal(ts_npy_write_f32(zp, zbad, 2, zs, e, sizeof e), TS_OK);
    assert_int_equal(ts_npy_write_f32(yp, ybad, 1, ys, e, sizeof e), TS_OK);
    snprintf(args, sizeof args, "--logits '%s' --labels '%s'", zp, yp);
    expect_usage(args, "y.npy: row 1: label 7 is out of range [0, 2)", NULL);
    const float ygood[3] = {0, 1, 1};
    assert_int_equal(ts_npy_write_f32(yp, ygood, 1, ys, e, sizeof e), TS_OK);
    expect_usage(args, "z.npy: row 2, column 0: logit nan is not finite", NULL);
    const size_t zs1[2] = {6, 1}, ys6[1] = {6};
    const float y6[6] = {0};
    assert_int_equal(ts_npy_write_f32(zp, zbad, 2, zs1, e, sizeof e), TS_OK);
    assert_int_equal(ts_npy_write_f32(yp, y6, 1, ys6, e, sizeof e), TS_OK);
    expect_usage(args, "z.npy: shape (6, 1): K = 1", NULL);
    snprintf(args, sizeof args, "--logits '%s' --labels '%s'", data("calib_npy_f4.npy"),
             data("calib_npy_lab_i8.npy"));
    expect_usage(args, "calib_npy_lab_i8.npy", "4 labels but");
    snprintf(args, sizeof args, "--logits '%s'", data("calib_val_logits.npy"));
    expect_usage(args, "--val-labels", NULL);
    snprintf(args, sizeof args, "--logits '%s' --labels '%s'", data("calib_npy_truncated.npy"),
             data("calib_val_labels.npy"));
    expect_usage(args, "calib_npy_truncated.npy", "truncated");
    snprintf(args, sizeof args, "--val '%s' --bins 0", data("calib_val.csv"));
    expect_usage(args, "--bins", NULL);
    assert_int_equal(run(""), 2); /* usage error: the message plus a hint line */
    assert_non_null(strstr(err_text, "nothing to calibrate"));
    expect_usage("--val /nonexistent.csv", "/nonexistent.csv", NULL);
}

static void test_plot(void **state)
{
    (void)state;
    char args[4096], png[2048];
    snprintf(png, sizeof png, "%s/rel.png", tmp);
    snprintf(args, sizeof args, "--val '%s' --plot '%s'", data("calib_val.csv"), png);
    assert_int_equal(run(args), 0);
    struct stat st;
    assert_int_equal(stat(png, &st), 0);
    assert_true(st.st_size > 10000);
    FILE *f = fopen(png, "rb");
    unsigned char sig[8];
    assert_int_equal(fread(sig, 1, 8, f), 8);
    fclose(f);
    assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
    remove(png);
    snprintf(png, sizeof png, "%s/rel.bmp", tmp);
    snprintf(args, sizeof args, "--val '%s' --plot '%s'", data("calib_val.csv"), png);
    expect_usage(args, "rel.bmp", NULL);
    assert_int_not_equal(stat(png, &st), 0);
    assert_int_equal(run("--help"), 0);
    assert_non_null(strstr(out_text, "Example"));
}

/* The LM path on the 2-layer random test model (tests/data/model_f16 + the shared GPT-2 BPE). */
static void test_lm_path(void **state)
{
    (void)state;
    const char *tokdir = getenv("TS_GPT2_TOKENIZER");
    if (!tokdir) tokdir = "../shared/gpt2-tokenizer";
    char cmd[8192], args[4096], text[1200];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/m' && ln -sf '%s'/model_f16/* '%s/m/' && ln -sf '%s'/vocab.json "
             "'%s'/merges.txt '%s/m/'",
             tmp, dir, tmp, tokdir, tokdir, tmp);
    assert_int_equal(system(cmd), 0);
    snprintf(text, sizeof text, "%s/t.txt", tmp);
    FILE *f = fopen(text, "w");
    for (int i = 0; i < 40; i++) fprintf(f, "To be, or not to be, that is the question %d.\n", i);
    fclose(f);
    snprintf(args, sizeof args,
             "--model '%s/m' --text '%s' --max-tokens 150 --stride 16 --fit-until 1 --json", tmp,
             text);
    assert_int_equal(run(args), 0);
    cJSON *root = cJSON_Parse(out_text);
    if (!root) fail_msg("not JSON: %s / %s", out_text, err_text);
    assert_int_equal((int)jget(root, NULL, "tokens"), 150);
    assert_int_equal((int)jget(root, NULL, "tokens_fit"), 150);
    /* Fitted and scored on the same tokens: T* cannot do worse than T = 1 there. */
    assert_true(jget(root, NULL, "nll_after") <= jget(root, NULL, "nll_before"));
    same(jget(root, NULL, "ppl_after"), exp(jget(root, NULL, "nll_after")), "ppl");
    assert_non_null(strstr(err_text, "same 150 tokens")); /* the not-held-out warning */
    cJSON_Delete(root);
    /* The default: fit on the first half, score the held-out second half. */
    snprintf(args, sizeof args, "--model '%s/m' --text '%s' --max-tokens 150 --stride 16 --json",
             tmp, text);
    assert_int_equal(run(args), 0);
    root = cJSON_Parse(out_text);
    if (!root) fail_msg("not JSON: %s / %s", out_text, err_text);
    assert_int_equal((int)jget(root, NULL, "tokens_fit"), 75);
    assert_int_equal((int)jget(root, NULL, "tokens"), 75);
    same(jget(root, NULL, "fit_until"), 0.5, "fit_until");
    cJSON_Delete(root);
    snprintf(args, sizeof args, "--model '%s/m' --text '%s' --stride 1000", tmp, text);
    expect_usage(args, "--stride", NULL);
    snprintf(args, sizeof args, "--model '%s/m' --text '%s/none.txt'", tmp, tmp);
    expect_usage(args, "none.txt", NULL);
}

static int setup(void **state)
{
    (void)state;
    const char *d = getenv("TS_TEST_DATA");
    snprintf(dir, sizeof dir, "%s", d ? d : "tests/data");
    const char *t = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/test_cli_calibrate.XXXXXX", t ? t : "/tmp");
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    free(out_text);
    free(err_text);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_matches_library),
        cmocka_unit_test(test_csv_and_npy_same_output),
        cmocka_unit_test(test_bad_inputs_exit_2),
        cmocka_unit_test(test_plot),
        cmocka_unit_test(test_lm_path),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

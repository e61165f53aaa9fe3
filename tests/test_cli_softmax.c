/*
 * test_cli_softmax.c — end-to-end tests of `tempscale softmax` ($TS_CLI).
 *
 * JSON output is parsed with cJSON and checked against an independent
 * long-double softmax computed here from the float32-rounded logits
 * (tolerance 1e-12); the table (plain, NO_COLOR) is checked for its rows
 * and columns; bad inputs must exit 2 with exactly one stderr line starting
 * "tempscale: error:" and must create no file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];

typedef struct run_result {
    int status;
    char *out;
    char *err;
} run_result;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = calloc((size_t)n + 1, 1);
    if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) buf[0] = '\0';
    fclose(f);
    return buf;
}

/* Run "$TS_CLI softmax <args>" (args are shell words) capturing stdout and stderr. */
static run_result run(const char *args)
{
    const char *cli = getenv("TS_CLI");
    assert_non_null(cli);
    char cmd[4096], out_path[512], err_path[512];
    snprintf(out_path, sizeof out_path, "%s/.stdout", dir);
    snprintf(err_path, sizeof err_path, "%s/.stderr", dir);
    snprintf(cmd, sizeof cmd, "'%s' softmax %s >'%s' 2>'%s' </dev/null", cli, args, out_path,
             err_path);
    int st = system(cmd);
    run_result r = {WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(out_path), slurp(err_path)};
    unlink(out_path);
    unlink(err_path);
    return r;
}

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ts_cli_softmax_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int count_files(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    char p[600];
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
    return 0;
}

/* Independent reference: long double softmax of the float32 logits. */
static void ref_softmax(const double *z, size_t n, double t, double *p)
{
    if (t == 0) {
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if ((float)z[i] > (float)z[best]) best = i;
        for (size_t i = 0; i < n; i++)
            p[i] = i == best;
        return;
    }
    long double e[64], s = 0;
    size_t nf = 0;
    for (size_t i = 0; i < n; i++)
        nf += isfinite(z[i]) != 0;
    for (size_t i = 0; i < n; i++) {
        if (isinf(t))
            e[i] = isfinite(z[i]) ? 1.0L / nf : 0.0L;
        else
            e[i] = isfinite(z[i]) ? expl((long double)(float)z[i] / t) : 0.0L;
        s += e[i];
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (double)(e[i] / s);
}

static double json_num(const cJSON *v)
{
    if (cJSON_IsNumber(v)) return v->valuedouble;
    assert_true(cJSON_IsString(v));
    if (!strcmp(v->valuestring, "inf")) return INFINITY;
    if (!strcmp(v->valuestring, "-inf")) return -INFINITY;
    fail_msg("unexpected string %s", v->valuestring);
    return NAN;
}

/* Check a --json document against the reference; returns the number of results. */
static size_t check_json(const char *text, const double *want_logits, size_t n,
                         const double *want_temps, size_t nt)
{
    cJSON *root = cJSON_Parse(text);
    assert_non_null(root);
    const cJSON *logits = cJSON_GetObjectItemCaseSensitive(root, "logits");
    const cJSON *results = cJSON_GetObjectItemCaseSensitive(root, "results");
    assert_true(cJSON_IsArray(logits) && cJSON_IsArray(results));
    assert_int_equal(cJSON_GetArraySize(logits), n);
    assert_int_equal(cJSON_GetArraySize(results), nt);
    for (size_t i = 0; i < n; i++)
        assert_true(json_num(cJSON_GetArrayItem(logits, (int)i)) == want_logits[i]);
    for (size_t k = 0; k < nt; k++) {
        const cJSON *r = cJSON_GetArrayItem(results, (int)k);
        double t = json_num(cJSON_GetObjectItemCaseSensitive(r, "temperature"));
        assert_true(t == want_temps[k]);
        const cJSON *probs = cJSON_GetObjectItemCaseSensitive(r, "probs");
        assert_int_equal(cJSON_GetArraySize(probs), n);
        double ref[64], h = 0;
        ref_softmax(want_logits, n, t, ref);
        for (size_t i = 0; i < n; i++) {
            double p = json_num(cJSON_GetArrayItem(probs, (int)i));
            if (!(fabs(p - ref[i]) <= 1e-12)) {
                print_error("T=%g p[%zu] = %.17g, reference %.17g\n", t, i, p, ref[i]);
                fail();
            }
            if (ref[i] > 0) h -= ref[i] * log(ref[i]);
        }
        double hn = json_num(cJSON_GetObjectItemCaseSensitive(r, "entropy_nats"));
        double hb = json_num(cJSON_GetObjectItemCaseSensitive(r, "entropy_bits"));
        assert_true(fabs(hn - h) <= 1e-12);
        assert_true(fabs(hb - h / log(2.0)) <= 1e-12);
    }
    cJSON_Delete(root);
    return nt;
}

static void test_json_defaults(void **state)
{
    (void)state;
    run_result r = run("--json");
    assert_int_equal(r.status, 0);
    const double z[5] = {2, 1, 0.5, 0.2, 0.1}, t[5] = {0.1, 0.5, 1, 2, 5};
    check_json(r.out, z, 5, t, 5);
    assert_string_equal(r.err, "");
    run_free(&r);
    /* entropy non-decreasing in T, in the CLI's own output too */
    r = run("--json --temperatures 0,0.05,0.1,0.3,0.5,0.8,1,1.5,2,5,10,100,inf");
    assert_int_equal(r.status, 0);
    cJSON *root = cJSON_Parse(r.out);
    const cJSON *results = cJSON_GetObjectItemCaseSensitive(root, "results");
    double prev = -1;
    for (int k = 0; k < cJSON_GetArraySize(results); k++) {
        double h = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(results, k), "entropy_nats")
                       ->valuedouble;
        assert_true(h >= prev);
        prev = h;
    }
    assert_true(fabs(prev - log(5.0)) < 1e-15);
    cJSON_Delete(root);
    run_free(&r);
}

static void test_json_limits_and_masks(void **state)
{
    (void)state;
    run_result r = run("--json --logits=3,-inf,1,3 --temperatures 0,0.5,1,inf");
    assert_int_equal(r.status, 0);
    const double z[4] = {3, -INFINITY, 1, 3}, t[4] = {0, 0.5, 1, INFINITY};
    check_json(r.out, z, 4, t, 4);
    /* the exact JSON spelling of infinities */
    assert_non_null(strstr(r.out, "\"logits\":[3,\"-inf\",1,3]"));
    assert_non_null(strstr(r.out, "\"temperature\":\"inf\""));
    /* T = 0 ties: the first maximum */
    assert_non_null(strstr(r.out, "\"probs\":[1,0,0,0]"));
    run_free(&r);
}

static void test_table(void **state)
{
    (void)state;
    run_result r = run("");
    assert_int_equal(r.status, 0);
    const char *want[] = {"token 0",        "token 4", "T = 0.1", "T = 5", "entropy (nats)",
                          "entropy (bits)", "0.5247",  "1.3188",  "1.9026"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(r.out, want[i])) {
            print_error("table lacks '%s':\n%s\n", want[i], r.out);
            fail();
        }
    }
    assert_null(strstr(r.out, "\x1b[")); /* no colour when piped / NO_COLOR */
    run_free(&r);
    r = run("--logits 1,2,3 --labels cat,' the',dog --temperatures 1");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "cat"));
    assert_non_null(strstr(r.out, "' the'"));
    assert_non_null(strstr(r.out, "0.6652")); /* e^3 / (e + e^2 + e^3) */
    run_free(&r);
}

static void test_plot_files(void **state)
{
    (void)state;
    static const char *const exts[3] = {"png", "svg", "pdf"};
    static const char *const magic[3] = {"\x89PNG", "<?xml", "%PDF"};
    for (int i = 0; i < 3; i++) {
        char args[700], path[600];
        snprintf(path, sizeof path, "%s/fig.%s", dir, exts[i]);
        snprintf(args, sizeof args, "--plot '%s' --json", path);
        run_result r = run(args);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.err, "wrote"));
        char *data = slurp(path);
        assert_memory_equal(data, magic[i], strlen(magic[i]));
        free(data);
        unlink(path);
        run_free(&r);
    }
    assert_int_equal(count_files(), 0); /* no temp files left behind */
}

static void expect_usage_error(const char *args, const char *needle)
{
    int before = count_files();
    run_result r = run(args);
    if (r.status != 2 || strncmp(r.err, "tempscale: error: ", 18) != 0 ||
        strchr(r.err, '\n') != r.err + strlen(r.err) - 1 || !strstr(r.err, needle)) {
        print_error("args %s: status %d, stderr '%s' (want exit 2, one line with '%s')\n", args,
                    r.status, r.err, needle);
        fail();
    }
    assert_string_equal(r.out, "");
    assert_int_equal(count_files(), before);
    run_free(&r);
}

static void test_bad_input(void **state)
{
    (void)state;
    char args[700];
    expect_usage_error("--temperatures -1", "must be >= 0");
    expect_usage_error("--temperatures 1,-0.5", "item 2: -0.5 is outside [0, inf]");
    expect_usage_error("--temperatures nan", "NaN");
    expect_usage_error("--logits 1,nan", "NaN");
    expect_usage_error("--logits 1,,2", "item 2 is empty");
    expect_usage_error("--logits 1 --logits 2", "given twice");
    expect_usage_error("--logits ''", "empty");
    expect_usage_error("--logits ,", "empty");
    expect_usage_error("--logits 1,two,3", "'two' is not a number");
    expect_usage_error("--temperatures warm", "not a number");
    expect_usage_error("--logits 1,inf", "+inf");
    expect_usage_error("--logits=-inf,-inf", "-inf");
    expect_usage_error("--logits 1e40", "float32");
    expect_usage_error("--labels a,b", "2 labels for 5 logits");
    expect_usage_error("--plot /nonexistent/x.png", "/nonexistent/x.png");
    assert_int_equal(access("/nonexistent/x.png", F_OK), -1);
    snprintf(args, sizeof args, "--plot '%s/fig.jpg'", dir);
    expect_usage_error(args, ".png, .svg or .pdf");
    snprintf(args, sizeof args, "--plot '%s/fig.png' --temperatures 1,-1", dir);
    expect_usage_error(args, "must be >= 0");
    expect_usage_error("--bogus", "--bogus");
    expect_usage_error("--logits", "needs a value");
    expect_usage_error("stray", "stray");
}

static void test_help(void **state)
{
    (void)state;
    run_result r = run("--help");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "exp(z_i / T)"));
    assert_non_null(strstr(r.out, "--temperatures"));
    assert_non_null(strstr(r.out, "Example"));
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_defaults), cmocka_unit_test(test_json_limits_and_masks),
        cmocka_unit_test(test_table),         cmocka_unit_test(test_plot_files),
        cmocka_unit_test(test_bad_input),     cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

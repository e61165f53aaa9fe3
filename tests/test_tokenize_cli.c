/*
 * test_tokenize_cli.c — `tempscale tokenize` end to end: runs $TS_CLI with the
 * real GPT-2 files ($TS_SHARED/gpt2-tokenizer), parses --json output with
 * cJSON and checks ids, tokens and vocab_size; checks the plain-text output,
 * raw-byte --file input (NUL, invalid UTF-8), stdin, --special, and that bad
 * input exits 2 with a one-line message naming the problem.
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
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

static char cli[4096], model[4096], tmpdir[64];
static char *out_text, *err_text;

static int setup(void **state)
{
    (void)state;
    const char *c = getenv("TS_CLI"), *tok = getenv("TS_GPT2_TOKENIZER");
    if (!c || !tok) {
        fprintf(stderr, "TS_CLI and TS_GPT2_TOKENIZER must be set (ctest sets them)\n");
        return -1;
    }
    snprintf(cli, sizeof cli, "%s", c);
    snprintf(model, sizeof model, "%s", tok);
    strcpy(tmpdir, "/tmp/ts_tokcli_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char p[128];
    const char *names[] = {"out", "err", "in.bin"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
        unlink(p);
    }
    rmdir(tmpdir);
    free(out_text), free(err_text);
    return 0;
}

/* Run `$TS_CLI tokenize <args>` (args: shell words), optional stdin file; returns exit code. */
static int run(const char *args, const char *stdin_path)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "'%s' tokenize %s < %s > %s/out 2> %s/err", cli, args,
             stdin_path ? stdin_path : "/dev/null", tmpdir, tmpdir);
    int st = system(cmd);
    assert_true(st != -1 && WIFEXITED(st));
    char p[128], err[TS_ERR_SIZE];
    size_t len;
    free(out_text), free(err_text);
    snprintf(p, sizeof p, "%s/out", tmpdir);
    assert_int_equal(ts_read_file(p, &out_text, &len, err, sizeof err), TS_OK);
    snprintf(p, sizeof p, "%s/err", tmpdir);
    assert_int_equal(ts_read_file(p, &err_text, &len, err, sizeof err), TS_OK);
    return WEXITSTATUS(st);
}

static cJSON *run_json(const char *args, const char *stdin_path)
{
    assert_int_equal(run(args, stdin_path), 0);
    cJSON *o = cJSON_Parse(out_text);
    if (!o) fail_msg("not JSON: %s", out_text);
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(o, "ids")));
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(o, "tokens")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "ids")),
                     cJSON_GetArraySize(cJSON_GetObjectItem(o, "tokens")));
    assert_int_equal((int)cJSON_GetObjectItem(o, "vocab_size")->valuedouble, 50257);
    return o;
}

static void check_ids(const cJSON *o, const int32_t *want, int n)
{
    const cJSON *ids = cJSON_GetObjectItem(o, "ids");
    assert_int_equal(cJSON_GetArraySize(ids), n);
    for (int i = 0; i < n; i++) assert_int_equal((int)cJSON_GetArrayItem(ids, i)->valuedouble, want[i]);
}

static void test_json_seed_prompt(void **state)
{
    (void)state;
    char args[8192];
    snprintf(args, sizeof args, "--json --model '%s' 'In the future, AI will'", model);
    cJSON *o = run_json(args, NULL);
    static const int32_t want[] = {818, 262, 2003, 11, 9552, 481};
    check_ids(o, want, 6);
    static const char *pieces[] = {"In", " the", " future", ",", " AI", " will"};
    const cJSON *toks = cJSON_GetObjectItem(o, "tokens");
    for (int i = 0; i < 6; i++) assert_string_equal(cJSON_GetArrayItem(toks, i)->valuestring, pieces[i]);
    cJSON_Delete(o);
    /* several TEXT arguments are joined with one space */
    snprintf(args, sizeof args, "--json --model '%s' In the future, AI will", model);
    o = run_json(args, NULL);
    check_ids(o, want, 6);
    cJSON_Delete(o);
}

static void test_plain_text_output(void **state)
{
    (void)state;
    char args[8192];
    snprintf(args, sizeof args, "--model '%s' 'In the future, AI will'", model);
    assert_int_equal(run(args, NULL), 0);
    assert_non_null(strstr(out_text, "Input IDs: [818, 262, 2003, 11, 9552, 481]\n"));
    assert_non_null(strstr(out_text, "Vocabulary size: 50257\n"));
    assert_non_null(strstr(out_text, "\xe2\x90\xa3" "future")); /* visible space */
    assert_non_null(strstr(out_text, "Round trip: decode(ids) == the input (22 bytes)"));
    assert_null(strstr(out_text, "\033[")); /* NO_COLOR / not a terminal: no escapes */
}

static void test_file_raw_bytes_and_stdin(void **state)
{
    (void)state;
    char path[128], args[8192];
    snprintf(path, sizeof path, "%s/in.bin", tmpdir);
    FILE *f = fopen(path, "wb");
    fwrite("a\0b\xff\n", 1, 5, f);
    fclose(f);
    snprintf(args, sizeof args, "--json --model '%s' --file '%s'", model, path);
    cJSON *o = run_json(args, NULL);
    static const int32_t want[] = {64, 188, 65, 187, 198};
    check_ids(o, want, 5);
    const cJSON *toks = cJSON_GetObjectItem(o, "tokens");
    assert_string_equal(cJSON_GetArrayItem(toks, 3)->valuestring, "\xef\xbf\xbd"); /* 0xFF */
    assert_string_equal(cJSON_GetArrayItem(toks, 4)->valuestring, "\n");
    cJSON_Delete(o);
    assert_non_null(strstr(out_text, "\"\\u0000\"")); /* NUL escaped, not dropped */
    /* the same bytes on stdin, with and without --file - */
    snprintf(args, sizeof args, "--json --model '%s'", model);
    o = run_json(args, path);
    check_ids(o, want, 5);
    cJSON_Delete(o);
    snprintf(args, sizeof args, "--json --model '%s' --file -", model);
    o = run_json(args, path);
    check_ids(o, want, 5);
    cJSON_Delete(o);
    /* plain text shows the bytes visibly and the round trip holds */
    snprintf(args, sizeof args, "--model '%s' --file '%s'", model, path);
    assert_int_equal(run(args, NULL), 0);
    assert_non_null(strstr(out_text, "\\x00"));
    assert_non_null(strstr(out_text, "\\xff"));
    assert_non_null(strstr(out_text, "Round trip: decode(ids) == the input (5 bytes)"));
}

static void test_special(void **state)
{
    (void)state;
    char args[8192];
    snprintf(args, sizeof args, "--json --model '%s' 'end<|endoftext|>'", model);
    cJSON *o = run_json(args, NULL);
    const cJSON *ids = cJSON_GetObjectItem(o, "ids");
    int n = cJSON_GetArraySize(ids);
    assert_true(n > 2);
    for (int i = 0; i < n; i++) assert_int_not_equal((int)cJSON_GetArrayItem(ids, i)->valuedouble, 50256);
    cJSON_Delete(o);
    snprintf(args, sizeof args, "--json --special --model '%s' 'end<|endoftext|>'", model);
    o = run_json(args, NULL);
    static const int32_t want[] = {437, 50256};
    check_ids(o, want, 2);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "tokens"), 1)->valuestring,
                        "<|endoftext|>");
    cJSON_Delete(o);
}

static void expect_usage_error(const char *args, const char *substr)
{
    assert_int_equal(run(args, NULL), 2);
    if (!strstr(err_text, substr)) fail_msg("stderr \"%s\" lacks \"%s\"", err_text, substr);
    char *nl = strchr(err_text, '\n');
    assert_non_null(nl);
    if (strncmp(err_text, "tempscale: error:", 17) == 0) assert_true(nl[1] == '\0' || strstr(nl + 1, "Run 'tempscale help"));
    assert_string_equal(out_text, ""); /* no partial output */
}

static void test_bad_input(void **state)
{
    (void)state;
    char args[8192];
    snprintf(args, sizeof args, "--model '%s' --file /nonexistent/prompt.txt", model);
    expect_usage_error(args, "/nonexistent/prompt.txt: No such file or directory");
    snprintf(args, sizeof args, "--model '%s' --file '%s'", model, tmpdir); /* a directory */
    expect_usage_error(args, tmpdir);
    expect_usage_error("--model /nonexistent/dir 'x'", "/nonexistent/dir");
    snprintf(args, sizeof args, "--model '%s' 'x'", tmpdir); /* a dir without vocab.json */
    expect_usage_error(args, "vocab.json");
    snprintf(args, sizeof args, "--model '%s' --file /etc/hostname 'x'", model);
    expect_usage_error(args, "not both");
    expect_usage_error("--bogus", "help tokenize");
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(run("--help", NULL), 0);
    assert_non_null(strstr(out_text, "Usage: tempscale tokenize"));
    assert_non_null(strstr(out_text, "--special"));
    assert_non_null(strstr(out_text, "U+FFFD"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_seed_prompt),   cmocka_unit_test(test_plain_text_output),
        cmocka_unit_test(test_file_raw_bytes_and_stdin), cmocka_unit_test(test_special),
        cmocka_unit_test(test_bad_input),          cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests_name("tokenize_cli", tests, setup, teardown) ? 1 : 0;
}

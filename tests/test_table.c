/*
 * test_table.c — cli/table.c: plain rendering (what pipes and NO_COLOR get),
 * display widths of UTF-8, and printable token pieces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "cli.h"

#include <stdlib.h>
#include <string.h>

static char *render(const ts_table *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_true(ts_table_print(t, f));
    fclose(f);
    return buf;
}

static void test_plain_table(void **state)
{
    (void)state;
    setenv("NO_COLOR", "1", 1);
    ts_table *t = ts_table_new("softmax");
    assert_non_null(t);
    assert_int_equal(ts_table_column(t, "token", TS_ALIGN_LEFT), 0);
    assert_int_equal(ts_table_column(t, "T = 1", TS_ALIGN_RIGHT), 1);
    ts_table_emphasize_column(t, 1);
    ts_table_row(t);
    ts_table_cell(t, "%s", "␣the");
    ts_table_cell(t, "%.4f", 0.5);
    ts_table_row(t);
    ts_table_cell(t, "%s", "a");
    ts_table_cell(t, "%.2f", 0.25);
    ts_table_rule(t);
    ts_table_row(t);
    ts_table_emphasize_row(t);
    ts_table_cell(t, "entropy");
    /* second cell left empty on purpose */
    char *out = render(t);
    const char *want = "softmax\n"
                       "token     T = 1\n"
                       "-------  ------\n"
                       "␣the     0.5000\n"
                       "a          0.25\n"
                       "---------------\n"
                       "entropy        \n";
    if (strcmp(out, want) != 0) {
        print_error("got:\n%s\nwant:\n%s\n", out, want);
        fail();
    }
    free(out);
    ts_table_free(t);
    ts_table_free(NULL);
}

static void test_display_width(void **state)
{
    (void)state;
    assert_int_equal(ts_cli_display_width(""), 0);
    assert_int_equal(ts_cli_display_width("abc"), 3);
    assert_int_equal(ts_cli_display_width("␣the"), 4); /* 3-byte code point */
    assert_int_equal(ts_cli_display_width("日本"), 4); /* wide */
    assert_int_equal(ts_cli_display_width("\x1b[1;33mab\x1b[0m"), 2);
    assert_int_equal(ts_cli_display_width("\xff\xfe"), 2);  /* invalid bytes: 1 each */
    assert_int_equal(ts_cli_display_width("e\xcc\x81"), 1); /* combining accent: 0 */
}

static void test_token_printable(void **state)
{
    (void)state;
    char out[64];
    assert_string_equal(ts_token_printable(" the", 4, TS_TOKEN_QUOTE, out, sizeof out),
                        "' the'");
    assert_string_equal(ts_token_printable(" the", 4, TS_TOKEN_VISIBLE, out, sizeof out),
                        "␣the");
    assert_string_equal(ts_token_printable("\n\n", 2, TS_TOKEN_QUOTE, out, sizeof out),
                        "'\\n\\n'");
    assert_string_equal(ts_token_printable("a\nb\t", 4, TS_TOKEN_VISIBLE, out, sizeof out),
                        "a↵b→");
    assert_string_equal(ts_token_printable("it's\\", 5, TS_TOKEN_QUOTE, out, sizeof out),
                        "'it\\'s\\\\'");
    /* invalid UTF-8 (a lone byte of a split character) and a control byte */
    assert_string_equal(ts_token_printable("\xe2\x80", 2, TS_TOKEN_QUOTE, out, sizeof out),
                        "'\\xe2\\x80'");
    assert_string_equal(ts_token_printable("\x01", 1, TS_TOKEN_VISIBLE, out, sizeof out),
                        "\\x01");
    assert_string_equal(ts_token_printable("é", 2, TS_TOKEN_QUOTE, out, sizeof out), "'é'");
    /* embedded NUL is escaped, not a terminator */
    assert_string_equal(ts_token_printable("a\0b", 3, TS_TOKEN_QUOTE, out, sizeof out),
                        "'a\\x00b'");
    /* truncation: always terminated, never overflows */
    char small[5];
    ts_token_printable("abcdefgh", 8, TS_TOKEN_QUOTE, small, sizeof small);
    assert_true(strlen(small) <= 4);
    assert_string_equal(small, "'abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_table),
        cmocka_unit_test(test_display_width),
        cmocka_unit_test(test_token_printable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_tokenizer.c — GPT-2 byte-level BPE against two references:
 *   - tests/data/tokenizer_cases.jsonl: 600+ strings with the ids that
 *     gpt-3-encoder (a JS port of OpenAI's encoder.py) gives them, written by
 *     tools/tokenizer_oracle/oracle.js (cross-checked with OpenAI's original
 *     Python algorithm by tools/tokenizer_oracle/openai_bpe.py);
 *   - small hand-made vocabularies whose BPE result is worked out by hand.
 * Plus: round trips of random bytes (NUL, invalid UTF-8), <|endoftext|> with
 * and without TS_ENCODE_ALLOW_SPECIAL, the capacity contract, and every load
 * error with the substrings its message must contain.
 * Uses the real GPT-2 files from $TS_SHARED/gpt2-tokenizer.
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
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static ts_tokenizer *gpt2;

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && v[0] ? v : fallback;
}

static int load_gpt2(void **state)
{
    (void)state;
    char v[4096], m[4096], err[TS_ERR_SIZE];
    const char *dir = env_or("TS_GPT2_TOKENIZER", "../shared/gpt2-tokenizer");
    snprintf(v, sizeof v, "%s/vocab.json", dir);
    snprintf(m, sizeof m, "%s/merges.txt", dir);
    if (ts_tokenizer_load(v, m, &gpt2, err, sizeof err) != TS_OK) {
        fprintf(stderr, "cannot load the GPT-2 tokenizer: %s\n", err);
        return -1;
    }
    return 0;
}

static int free_gpt2(void **state)
{
    (void)state;
    ts_tokenizer_free(gpt2);
    return 0;
}

/* Encode into a malloc'd array (caller frees). */
static int32_t *encode(const ts_tokenizer *tok, const char *s, size_t len, unsigned flags,
                       size_t *n)
{
    size_t need = 0;
    ts_status st = ts_tokenizer_encode(tok, s, len, flags, NULL, 0, &need);
    assert_true(st == TS_OK || st == TS_ERR_RANGE);
    int32_t *ids = malloc((need ? need : 1) * sizeof *ids);
    assert_non_null(ids);
    assert_int_equal(ts_tokenizer_encode(tok, s, len, flags, ids, need, n), TS_OK);
    assert_int_equal(*n, need);
    return ids;
}

static char *decode(const ts_tokenizer *tok, const int32_t *ids, size_t n, size_t *len)
{
    size_t need = 0;
    ts_status st = ts_tokenizer_decode(tok, ids, n, NULL, 0, &need);
    assert_true(st == TS_OK || st == TS_ERR_RANGE);
    char *out = malloc(need + 1);
    assert_non_null(out);
    assert_int_equal(ts_tokenizer_decode(tok, ids, n, out, need, len), TS_OK);
    return out;
}

static void test_seed_prompt(void **state)
{
    (void)state;
    static const int32_t want[] = {818, 262, 2003, 11, 9552, 481};
    const char *s = "In the future, AI will";
    size_t n;
    int32_t *ids = encode(gpt2, s, strlen(s), 0, &n);
    assert_int_equal(n, 6);
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    assert_int_equal(ts_tokenizer_vocab_size(gpt2), 50257);
    assert_int_equal(ts_tokenizer_eot(gpt2), 50256);
    size_t len;
    const char *p = ts_tokenizer_token_bytes(gpt2, 262, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(p, " the", 4);
    p = ts_tokenizer_token_bytes(gpt2, 198, &len); /* "Ċ" = '\n' */
    assert_int_equal(len, 1);
    assert_int_equal(p[0], '\n');
    assert_null(ts_tokenizer_token_bytes(gpt2, 50257, &len));
    assert_null(ts_tokenizer_token_bytes(gpt2, -1, &len));
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static void test_oracle_cases(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_cases.jsonl", env_or("TS_TEST_DATA", "tests/data"));
    char *data, err[TS_ERR_SIZE];
    size_t len;
    if (ts_read_file(path, &data, &len, err, sizeof err) != TS_OK) fail_msg("%s", err);
    size_t n_cases = 0, n_bad = 0, n_ids = 0;
    for (char *line = data; *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        if (*line) {
            cJSON *rec = cJSON_Parse(line);
            assert_non_null(rec);
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(rec, "text");
            const cJSON *hex = cJSON_GetObjectItemCaseSensitive(rec, "hex");
            const cJSON *want = cJSON_GetObjectItemCaseSensitive(rec, "ids");
            assert_true(cJSON_IsString(text) && cJSON_IsArray(want));
            char *bytes = NULL;
            size_t blen;
            if (cJSON_IsString(hex)) { /* texts with NUL travel as hex */
                size_t hl = strlen(hex->valuestring);
                bytes = malloc(hl / 2 + 1);
                for (blen = 0; blen < hl / 2; blen++)
                    bytes[blen] = (char)(hexval(hex->valuestring[2 * blen]) * 16 +
                                         hexval(hex->valuestring[2 * blen + 1]));
            } else {
                blen = strlen(text->valuestring);
                bytes = malloc(blen + 1);
                memcpy(bytes, text->valuestring, blen);
            }
            size_t n;
            int32_t *ids = encode(gpt2, bytes, blen, 0, &n);
            bool same = n == (size_t)cJSON_GetArraySize(want);
            for (size_t i = 0; same && i < n; i++)
                same = ids[i] == (int32_t)cJSON_GetArrayItem(want, (int)i)->valuedouble;
            if (!same) {
                if (n_bad < 10) {
                    fprintf(stderr, "MISMATCH %s\n  got ", cJSON_PrintUnformatted(text));
                    for (size_t i = 0; i < n; i++) fprintf(stderr, "%d ", ids[i]);
                    fprintf(stderr, "\n  want %s\n", cJSON_PrintUnformatted(want));
                }
                n_bad++;
            }
            size_t dl;
            char *back = decode(gpt2, ids, n, &dl);
            assert_int_equal(dl, blen);
            assert_memory_equal(back, bytes, blen);
            free(back);
            free(ids);
            free(bytes);
            n_ids += n;
            n_cases++;
            cJSON_Delete(rec);
        }
        if (!nl) break;
        line = nl + 1;
    }
    free(data);
    fprintf(stderr, "oracle: %zu cases, %zu ids, %zu mismatches\n", n_cases, n_ids, n_bad);
    assert_true(n_cases >= 300);
    assert_int_equal(n_bad, 0);
}

static void test_special_token(void **state)
{
    (void)state;
    const char *s = "a<|endoftext|>b <|endoftext|><|endoftext|>";
    size_t n, na, nb;
    int32_t *plain = encode(gpt2, s, strlen(s), 0, &n);
    for (size_t i = 0; i < n; i++) assert_int_not_equal(plain[i], 50256);
    free(plain);
    int32_t *sp = encode(gpt2, s, strlen(s), TS_ENCODE_ALLOW_SPECIAL, &n);
    int32_t *a = encode(gpt2, "a", 1, 0, &na), *b = encode(gpt2, "b ", 2, 0, &nb);
    assert_int_equal(n, na + 1 + nb + 2);
    assert_memory_equal(sp, a, na * sizeof *a);
    assert_int_equal(sp[na], 50256);
    assert_memory_equal(sp + na + 1, b, nb * sizeof *b);
    assert_int_equal(sp[n - 2], 50256);
    assert_int_equal(sp[n - 1], 50256);
    free(sp), free(a), free(b);
    /* Partial markers stay text. */
    sp = encode(gpt2, "<|endoftext|", 12, TS_ENCODE_ALLOW_SPECIAL, &n);
    for (size_t i = 0; i < n; i++) assert_int_not_equal(sp[i], 50256);
    free(sp);
}

static void test_capacity(void **state)
{
    (void)state;
    const char *s = "In the future, AI will";
    int32_t ids[3] = {-7, -7, -7};
    size_t n = 0;
    assert_int_equal(ts_tokenizer_encode(gpt2, s, strlen(s), 0, ids, 2, &n), TS_ERR_RANGE);
    assert_int_equal(n, 6);
    assert_int_equal(ids[0], 818);
    assert_int_equal(ids[1], 262);
    assert_int_equal(ids[2], -7); /* never writes past cap */
    assert_int_equal(ts_tokenizer_encode(gpt2, "", 0, 0, ids, 3, &n), TS_OK);
    assert_int_equal(n, 0);
    char out[4];
    size_t len;
    int32_t two[2] = {818, 262};
    assert_int_equal(ts_tokenizer_decode(gpt2, two, 2, out, 4, &len), TS_ERR_RANGE);
    assert_int_equal(len, 6);
    int32_t badid[1] = {50257};
    assert_int_equal(ts_tokenizer_decode(gpt2, badid, 1, out, 4, &len), TS_ERR_INVALID);
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Any bytes survive encode -> decode (byte-level BPE covers all 256 bytes). */
static void test_random_bytes_round_trip(void **state)
{
    (void)state;
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    static const char pieces[][5] = {"a", " ", "'s", "\xc3\xa9", "\xe2\x82", "\xff", "\x00",
                                     "1",  "\n", "\xf0\x9f\x98\x80", "!", "\xed\xa0\x80"};
    char buf[600];
    for (int iter = 0; iter < 2000; iter++) {
        size_t len = xorshift(&seed) % sizeof buf;
        for (size_t i = 0; i < len;) {
            if (iter % 2) { /* uniform random bytes */
                buf[i++] = (char)(xorshift(&seed) >> 24);
            } else { /* mixtures of valid and broken UTF-8, spaces, NUL */
                size_t k = xorshift(&seed) % (sizeof pieces / sizeof pieces[0]);
                size_t pl = k == 6 ? 1 : strlen(pieces[k]);
                for (size_t j = 0; j < pl && i < len; j++) buf[i++] = pieces[k][j];
            }
        }
        size_t n, dl;
        int32_t *ids = encode(gpt2, buf, len, 0, &n);
        for (size_t i = 0; i < n; i++) assert_true(ids[i] >= 0 && ids[i] < 50256);
        char *back = decode(gpt2, ids, n, &dl);
        assert_int_equal(dl, len);
        assert_memory_equal(back, buf, len);
        free(back);
        free(ids);
    }
}

/* Invalid bytes group with punctuation: "\xff!" is one piece, " \xff" keeps its space. */
static void test_invalid_utf8_pieces(void **state)
{
    (void)state;
    size_t n1, n2;
    int32_t *a = encode(gpt2, "x \xff\xfe!", 5, 0, &n1);
    int32_t *b = encode(gpt2, "x", 1, 0, &n2);
    assert_int_equal(n2, 1);
    assert_int_equal(a[0], b[0]);
    /* the rest is one piece " \xff\xfe!" -> BPE of those 4 bytes; decode check */
    size_t dl;
    char *back = decode(gpt2, a + 1, n1 - 1, &dl);
    assert_int_equal(dl, 4);
    assert_memory_equal(back, " \xff\xfe!", 4);
    free(back), free(a), free(b);
    /* NUL is an "other" character, not whitespace: " \0" is one piece */
    int32_t *c = encode(gpt2, "a \0", 3, 0, &n1);
    assert_int_equal(n1, 3); /* "a", then " \0" has no merge: 220, 188 */
    assert_int_equal(c[1], 220);
    assert_int_equal(c[2], 188);
    free(c);
}

/* ---- hand-made vocabularies ------------------------------------------------- */

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/ts_tok_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char p[128];
    const char *names[] = {"vocab.json", "merges.txt"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
        unlink(p);
    }
    rmdir(tmpdir);
    return 0;
}

static void write_file(const char *name, const char *text)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* GPT-2's alphabet, written independently of src/text/tokenizer.c: UTF-8 of byte b's code point. */
static void byte_char(int b, char out[3])
{
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    int cp = b;
    if (!printable) {
        int n = 0;
        for (int c = 0; c < b; c++)
            n += !((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE);
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
    }
}

/*
 * A vocabulary of the 256 bytes (ids 0..255, "\\" and "\"" escaped) plus
 * `extra` (JSON members text, may be empty), written to tmpdir/vocab.json.
 */
static void write_vocab(const char *extra, int skip_byte)
{
    static char buf[16384];
    size_t o = 0;
    o += (size_t)snprintf(buf + o, sizeof buf - o, "{");
    for (int b = 0; b < 256; b++) {
        if (b == skip_byte) continue;
        char c[3];
        byte_char(b, c);
        const char *esc = (c[0] == '"' || c[0] == '\\') && !c[1] ? "\\" : "";
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s\"%s%s\": %d", o > 1 ? ", " : "", esc,
                              c, b);
    }
    o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s}", extra[0] ? ", " : "", extra);
    write_file("vocab.json", buf);
}

static ts_status load_tmp(ts_tokenizer **tok, char *err, size_t n)
{
    char v[128], m[128];
    snprintf(v, sizeof v, "%s/vocab.json", tmpdir);
    snprintf(m, sizeof m, "%s/merges.txt", tmpdir);
    return ts_tokenizer_load(v, m, tok, err, n);
}

/* "aa" merges greedily left to right: a^N -> (aaaa)* (aa)? (a)?, for short
 * pieces (classic loop) and long ones (heap) alike. */
static void test_tiny_vocab_bpe(void **state)
{
    (void)state;
    write_vocab("\"aa\": 256, \"aaaa\": 257, \"ab\": 258, \"Ġab\": 259", -1);
    write_file("merges.txt", "#version: 0.2\na a\naa aa\na b\nĠ ab\n");
    ts_tokenizer *tok;
    char err[TS_ERR_SIZE];
    assert_int_equal(load_tmp(&tok, err, sizeof err), TS_OK);
    assert_int_equal(ts_tokenizer_vocab_size(tok), 260);
    assert_int_equal(ts_tokenizer_eot(tok), -1);
    char word[200];
    for (size_t len = 1; len < sizeof word; len++) {
        memset(word, 'a', len);
        size_t n;
        int32_t *ids = encode(tok, word, len, 0, &n);
        size_t q = len / 4, r = len % 4, k = 0;
        assert_int_equal(n, q + (r >= 2) + (r % 2));
        for (; k < q; k++) assert_int_equal(ids[k], 257);
        if (r >= 2) assert_int_equal(ids[k++], 256);
        if (r % 2) assert_int_equal(ids[k++], 'a'); /* byte b has id b here */
        free(ids);
    }
    /* " ab" -> one token; "aab": ("a","a") rank 0 beats ("a","b") rank 2 */
    size_t n;
    int32_t *ids = encode(tok, " ab", 3, 0, &n);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 259);
    free(ids);
    ids = encode(tok, "aab", 3, 0, &n);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 256);
    assert_int_equal(ids[1], 'b');
    free(ids);
    ts_tokenizer_free(tok);
}

/*
 * Merges that are not rank-consistent ("ab a" ranks before "a b" makes "ab"):
 * encoder.py's loop merges every (a, b) first, so "abab" + 25 z (one piece,
 * long enough for the heap path) is ab ab z..., never aba b z....
 */
static void test_inconsistent_ranks_follow_encoder_py(void **state)
{
    (void)state;
    write_vocab("\"ab\": 256, \"aba\": 257", -1);
    write_file("merges.txt", "#version: 0.2\nab a\na b\n");
    ts_tokenizer *tok;
    char err[TS_ERR_SIZE];
    assert_int_equal(load_tmp(&tok, err, sizeof err), TS_OK);
    const char *s = "ababzzzzzzzzzzzzzzzzzzzzzzzzz";
    size_t n;
    int32_t *ids = encode(tok, s, strlen(s), 0, &n);
    assert_int_equal(n, 27);
    assert_int_equal(ids[0], 256);
    assert_int_equal(ids[1], 256);
    for (size_t i = 2; i < n; i++) assert_int_equal(ids[i], 'z');
    free(ids);
    /* the short path agrees */
    ids = encode(tok, "abab", 4, 0, &n);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 256);
    assert_int_equal(ids[1], 256);
    free(ids);
    ts_tokenizer_free(tok);
}

typedef struct load_case {
    const char *vocab_extra; /* NULL: write vocab_raw instead */
    const char *vocab_raw;
    int skip_byte;
    const char *merges;
    ts_status status;
    const char *substr[3];
} load_case;

static void test_load_errors(void **state)
{
    (void)state;
    static const load_case cases[] = {
        {NULL, "{\"a\": 0,", -1, "#version: 0.2\n", TS_ERR_FORMAT, {"vocab.json: invalid JSON at line 1"}},
        {NULL, "[1, 2]", -1, "#version: 0.2\n", TS_ERR_FORMAT, {"vocab.json", "JSON object"}},
        {"\"x\": \"256\"", NULL, -1, "", TS_ERR_FORMAT, {"vocab.json", "\"x\"", "got a string"}},
        {"\"xy\": 300", NULL, -1, "", TS_ERR_FORMAT, {"vocab.json", "\"xy\"", "out of range"}},
        {"\"xy\": 256.5", NULL, -1, "", TS_ERR_FORMAT, {"vocab.json", "not an integer"}},
        {"\"xy\": 255", NULL, -1, "", TS_ERR_FORMAT, {"vocab.json", "id 255 is given to both"}},
        {"\"x y\": 256", NULL, -1, "", TS_ERR_FORMAT, {"vocab.json", "U+0020", "alphabet"}},
        {"\"\": 256", NULL, -1, "", TS_ERR_FORMAT, {"vocab.json", "empty token"}},
        {"\"\\u0041\": 256", NULL, -1, "", TS_ERR_FORMAT, {"vocab.json", "same byte string"}},
        {"\"xy\": 7", NULL, 7, "", TS_ERR_FORMAT, {"vocab.json", "no token for byte 0x07"}},
        {"\"ab\": 256", NULL, -1, "#version: 0.2\na b\nab\n", TS_ERR_FORMAT,
         {"merges.txt:3:", "two tokens separated by one space", "\"ab\""}},
        {"\"ab\": 256", NULL, -1, "#version: 0.2\na b c\n", TS_ERR_FORMAT,
         {"merges.txt:2:", "one space"}},
        {"\"ab\": 256", NULL, -1, "#version: 0.2\na  b\n", TS_ERR_FORMAT, {"merges.txt:2:"}},
        {"\"ab\": 256", NULL, -1, "#version: 0.2\na b\n\nab a\n", TS_ERR_FORMAT,
         {"merges.txt:3:", "empty line"}},
        {"\"ab\": 256", NULL, -1, "#version: 0.2\nab c\n", TS_ERR_FORMAT,
         {"merges.txt:2:", "merged token \"abc\"", "do not match"}},
        {"\"ab\": 256", NULL, -1, "#version: 0.2\nxy b\n", TS_ERR_FORMAT,
         {"merges.txt:2:", "first part \"xy\""}},
        {"\"ab\": 256", NULL, -1, "#version: 0.2\na b\nb xy\n", TS_ERR_FORMAT,
         {"merges.txt:3:", "second part \"xy\""}},
        {"\"ab\": 256", NULL, -1, "#version: 0.2\na b\na b\n", TS_ERR_FORMAT,
         {"merges.txt:3:", "duplicate merge", "rank 0"}},
        {"\"ab\": 256", NULL, -1, "#version: 0.2\na \xe2\x82\xac\n", TS_ERR_FORMAT,
         {"merges.txt:2:", "U+20AC"}},
        /* accepted: CRLF, no #version line, trailing blank lines */
        {"\"ab\": 256", NULL, -1, "#version: 0.2\r\na b\r\n\r\n\n", TS_OK, {NULL}},
        {"\"ab\": 256", NULL, -1, "a b", TS_OK, {NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const load_case *c = &cases[i];
        if (c->vocab_extra) write_vocab(c->vocab_extra, c->skip_byte);
        else write_file("vocab.json", c->vocab_raw);
        write_file("merges.txt", c->merges);
        ts_tokenizer *tok = (ts_tokenizer *)&tok;
        char err[TS_ERR_SIZE] = "";
        ts_status st = load_tmp(&tok, err, sizeof err);
        if (st != c->status) fail_msg("case %zu: status %d, want %d (%s)", i, st, c->status, err);
        if (st == TS_OK) {
            assert_non_null(tok);
            ts_tokenizer_free(tok);
            continue;
        }
        assert_null(tok);
        assert_null(strchr(err, '\n'));
        for (int k = 0; k < 3 && c->substr[k]; k++)
            if (!strstr(err, c->substr[k]))
                fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err, c->substr[k]);
    }
    /* Missing files name the path. */
    ts_tokenizer *tok;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_tokenizer_load("/nonexistent/vocab.json", "/nonexistent/merges.txt", &tok,
                                       err, sizeof err),
                     TS_ERR_IO);
    assert_non_null(strstr(err, "/nonexistent/vocab.json"));
    write_vocab("", -1);
    char v[128];
    snprintf(v, sizeof v, "%s/vocab.json", tmpdir);
    assert_int_equal(ts_tokenizer_load(v, "/nonexistent/merges.txt", &tok, err, sizeof err),
                     TS_ERR_IO);
    assert_non_null(strstr(err, "/nonexistent/merges.txt"));
    assert_null(tok);
}

/* Real GPT-2 merges against the real vocab: mismatched pairs are caught. */
static void test_real_mismatch(void **state)
{
    (void)state;
    write_vocab("\"ab\": 256", -1);
    char v[128], m[4096], err[TS_ERR_SIZE];
    snprintf(v, sizeof v, "%s/vocab.json", tmpdir);
    snprintf(m, sizeof m, "%s/merges.txt", env_or("TS_GPT2_TOKENIZER", "../shared/gpt2-tokenizer"));
    ts_tokenizer *tok;
    assert_int_equal(ts_tokenizer_load(v, m, &tok, err, sizeof err), TS_ERR_FORMAT);
    assert_non_null(strstr(err, "merges.txt:2: merged token \"Ġt\" is not in the vocabulary"));
}

int main(void)
{
    const struct CMUnitTest gpt2_tests[] = {
        cmocka_unit_test(test_seed_prompt),
        cmocka_unit_test(test_oracle_cases),
        cmocka_unit_test(test_special_token),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_random_bytes_round_trip),
        cmocka_unit_test(test_invalid_utf8_pieces),
    };
    const struct CMUnitTest file_tests[] = {
        cmocka_unit_test(test_tiny_vocab_bpe),
        cmocka_unit_test(test_inconsistent_ranks_follow_encoder_py),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_real_mismatch),
    };
    int failed = cmocka_run_group_tests_name("tokenizer_gpt2", gpt2_tests, load_gpt2, free_gpt2);
    failed += cmocka_run_group_tests_name("tokenizer_files", file_tests, make_tmpdir,
                                          remove_tmpdir);
    return failed ? 1 : 0;
}

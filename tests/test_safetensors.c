/*
 * test_safetensors.c — the safetensors reader: valid files (dtypes, scalars,
 * empty tensors, padding, metadata), one test per class of corrupt input
 * asserting on the message, sharded sets, directory resolution, and a
 * fuzz-ish sweep (every truncation, byte flips at every header offset) that
 * must never crash. Files are written into a mkdtemp directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"
#include "st_writer.h"

static char g_dir[512];

static const char *tmp_path(const char *name)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static int setup(void **state)
{
    (void)state;
    return stw_mkdtemp(g_dir, sizeof g_dir);
}

static int teardown(void **state)
{
    (void)state;
    stw_rmdir(g_dir);
    return 0;
}

/* Open path, expect failure with status s and a message containing want. */
static void expect_fail(const char *path, ts_status s, const char *want)
{
    ts_safetensors *st = (ts_safetensors *)0x1;
    char err[TS_ERR_SIZE] = "";
    ts_status got = ts_safetensors_open_file(path, &st, err, sizeof err);
    if (got == TS_OK || strstr(err, want) == NULL || got != s)
        fail_msg("%s: expected status %d and a message containing \"%s\", got %d: \"%s\"", path, s,
                 want, got, err);
    assert_null(st);
    assert_non_null(strstr(err, path)); /* the file is named */
}

/* ---- valid files ---------------------------------------------------------- */

static void test_valid_file(void **state)
{
    (void)state;
    const char *path = tmp_path("valid.safetensors");
    stw w = {0};
    int64_t s23[2] = {2, 3}, s4[1] = {4}, s0[2] = {0, 3}, s1[1] = {1};
    stw_add(&w, "a.f32", "a.f32", "F32", 2, s23);
    stw_add(&w, "b.f16", "b.f16", "F16", 1, s4);
    stw_add(&w, "c.bf16", "c.bf16", "BF16", 2, s23);
    stw_add(&w, "d.i64", "d.i64", "I64", 1, s1);
    stw_add(&w, "e.bool", "e.bool", "BOOL", 1, s4);
    stw_add(&w, "f.empty", "f.empty", "F32", 2, s0);
    stw_add(&w, "g.scalar", "g.scalar", "F32", 0, s1);
    assert_int_equal(stw_save(&w, path), 0);
    stw_free(&w);

    ts_safetensors *st = NULL;
    char err[TS_ERR_SIZE] = "";
    ts_status s = ts_safetensors_open_file(path, &st, err, sizeof err);
    if (s != TS_OK) fail_msg("%s", err);
    assert_int_equal(ts_safetensors_count(st), 7);
    assert_string_equal(ts_safetensors_path(st), path);
    /* get() is in name order */
    assert_string_equal(ts_safetensors_get(st, 0)->name, "a.f32");
    assert_string_equal(ts_safetensors_get(st, 6)->name, "g.scalar");
    assert_null(ts_safetensors_get(st, 7));
    assert_null(ts_safetensors_find(st, "nope"));
    assert_null(ts_safetensors_find(st, "a.f3"));

    const ts_tensor *t = ts_safetensors_find(st, "a.f32");
    assert_non_null(t);
    assert_true(t->supported);
    assert_int_equal(t->dtype, TS_DTYPE_F32);
    assert_string_equal(t->dtype_name, "F32");
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->nbytes, 24);
    assert_string_equal(t->file, path);
    const float *f = t->data;
    for (size_t i = 0; i < 6; i++)
        assert_true(f[i] == stw_value("a.f32", i));

    t = ts_safetensors_find(st, "b.f16");
    assert_int_equal(t->dtype, TS_DTYPE_F16);
    assert_int_equal(t->nbytes, 8);
    for (size_t i = 0; i < 4; i++)
        assert_true(stw_f16_to_f32(((const uint16_t *)t->data)[i]) == stw_value("b.f16", i));

    t = ts_safetensors_find(st, "c.bf16");
    assert_int_equal(t->dtype, TS_DTYPE_BF16);
    for (size_t i = 0; i < 6; i++)
        assert_true(stw_bf16_to_f32(((const uint16_t *)t->data)[i]) == stw_value("c.bf16", i));

    t = ts_safetensors_find(st, "d.i64");
    assert_false(t->supported);
    assert_string_equal(t->dtype_name, "I64");
    assert_int_equal(t->nbytes, 8);
    t = ts_safetensors_find(st, "e.bool");
    assert_false(t->supported);
    assert_int_equal(t->nbytes, 4);
    t = ts_safetensors_find(st, "f.empty");
    assert_int_equal(t->nbytes, 0);
    assert_int_equal(t->shape[0], 0);
    t = ts_safetensors_find(st, "g.scalar");
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->nbytes, 4);
    assert_true(*(const float *)t->data == stw_value("g.scalar", 0));
    ts_safetensors_close(st);
    ts_safetensors_close(NULL); /* no-op */
}

static void test_valid_variants(void **state)
{
    (void)state;
    char err[TS_ERR_SIZE];
    ts_safetensors *st;
    /* No padding, no tensors at all, metadata only, 6-dim shape, unaligned
     * data (accepted here; weights.c refuses it when bound), F4 sub-byte. */
    static const struct {
        const char *name, *header;
        size_t data;
        size_t count;
    } ok[] = {
        {"empty_obj", "{}", 0, 0},
        {"meta_only", "{\"__metadata__\":{\"format\":\"pt\",\"x\":\"y\"}}", 0, 0},
        {"unpadded", "{\"t\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}", 3, 1},
        {"tabs_newlines",
         "{\n\t\"t\" : {\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[0,4]}\n}\r\n", 4, 1},
        {"rank6", "{\"t\":{\"dtype\":\"I8\",\"shape\":[1,2,1,2,1,2],\"data_offsets\":[0,8]}}", 8,
         1},
        {"f4", "{\"t\":{\"dtype\":\"F4\",\"shape\":[6],\"data_offsets\":[0,3]}}", 3, 1},
        {"zero_dim_huge", /* a 0 dimension: 0 bytes, whatever the others */
         "{\"t\":{\"dtype\":\"F64\",\"shape\":[4294967296,0,4294967296],\"data_offsets\":[0,0]}}",
         0, 1},
        {"extra_keys",
         "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":[1]}}", 4, 1},
        {"unordered", /* offsets need not follow header order */
         "{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]},"
         "\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
         "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[3,3]}}",
         5, 3},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        const char *path = tmp_path(ok[i].name);
        assert_int_equal(stw_write_raw(path, strlen(ok[i].header), ok[i].header, ok[i].data), 0);
        st = NULL;
        ts_status s = ts_safetensors_open_file(path, &st, err, sizeof err);
        if (s != TS_OK) fail_msg("%s: %s", ok[i].name, err);
        assert_int_equal(ts_safetensors_count(st), ok[i].count);
        ts_safetensors_close(st);
    }
    /* rank 6 keeps ndim and the first 4 dims */
    assert_int_equal(ts_safetensors_open_file(tmp_path("rank6"), &st, err, sizeof err), TS_OK);
    assert_int_equal(ts_safetensors_find(st, "t")->ndim, 6);
    assert_int_equal(ts_safetensors_find(st, "t")->shape[3], 2);
    ts_safetensors_close(st);
    /* a tensor's data pointer is exactly buffer + begin */
    assert_int_equal(ts_safetensors_open_file(tmp_path("unordered"), &st, err, sizeof err), TS_OK);
    const unsigned char *a = ts_safetensors_find(st, "a")->data;
    const unsigned char *b = ts_safetensors_find(st, "b")->data;
    assert_ptr_equal(b, a + 3);
    assert_int_equal(b[0], (3 * 7 + 3) & 0xff); /* stw_write_raw's pattern byte 3 */
    ts_safetensors_close(st);
}

/* ---- corrupt files -------------------------------------------------------- */

#define LEN_AUTO UINT64_MAX

typedef struct bad_case {
    const char *name;
    const char *header;
    uint64_t header_len; /* LEN_AUTO = strlen(header) */
    size_t data;
    ts_status status;
    const char *want;
} bad_case;

#define T1(dt, shape, offs)                                                                        \
    "{\"t\":{\"dtype\":" dt ",\"shape\":" shape ",\"data_offsets\":" offs "}}"

static const bad_case k_bad[] = {
    {"len_beyond", "{}", 1000, 0, TS_ERR_FORMAT, "header length 1000 beyond the end of the file"},
    {"len_huge", "{}", 200000000, 0, TS_ERR_FORMAT, "larger than the 100,000,000-byte limit"},
    {"len_max", "{}", UINT64_MAX - 1, 0, TS_ERR_FORMAT, "100,000,000-byte limit"},
    {"len_zero", "{}", 0, 2, TS_ERR_FORMAT, "header length 0 is too small"},
    {"not_brace", "[1,2]   ", LEN_AUTO, 0, TS_ERR_FORMAT, "does not start with '{'"},
    {"bad_json", "{\"t\":{\"dtype\":\"F32\",}", LEN_AUTO, 0, TS_ERR_FORMAT, "not valid JSON"},
    {"bad_json2", "{\"t\" 1}", LEN_AUTO, 0, TS_ERR_FORMAT, "not valid JSON"},
    {"truncated_json", "{\"t\":{\"dtype\":\"F3", LEN_AUTO, 0, TS_ERR_FORMAT, "not valid JSON"},
    {"trailing", "{} x", LEN_AUTO, 0, TS_ERR_FORMAT, "unexpected bytes after the JSON header"},
    {"two_objects", "{}{}", LEN_AUTO, 0, TS_ERR_FORMAT, "unexpected bytes after the JSON header"},
    {"nul_padding", "{}\0\0", 4, 0, TS_ERR_FORMAT, "is not valid UTF-8 JSON text"},
    {"bad_utf8", "{\"\xc3\x28\":1}", LEN_AUTO, 0, TS_ERR_FORMAT, "is not valid UTF-8 JSON text"},
    {"overlong_utf8", "{\"\xc0\xaf\":1}", LEN_AUTO, 0, TS_ERR_FORMAT, "not valid UTF-8"},
    {"surrogate_utf8", "{\"\xed\xa0\x80\":1}", LEN_AUTO, 0, TS_ERR_FORMAT, "not valid UTF-8"},
    {"entry_not_obj", "{\"t\":[1]}", LEN_AUTO, 0, TS_ERR_FORMAT,
     "tensor t: expected an object {dtype, shape, data_offsets}, got an array"},
    {"dtype_missing", "{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", LEN_AUTO, 4, TS_ERR_FORMAT,
     "tensor t: \"dtype\" must be a string, got nothing"},
    {"dtype_number", T1("5", "[1]", "[0,4]"), LEN_AUTO, 4, TS_ERR_FORMAT,
     "\"dtype\" must be a string, got a number"},
    {"dtype_unknown", T1("\"F12\"", "[1]", "[0,4]"), LEN_AUTO, 4, TS_ERR_FORMAT,
     "tensor t: unknown dtype \"F12\""},
    {"dtype_lowercase", T1("\"f32\"", "[1]", "[0,4]"), LEN_AUTO, 4, TS_ERR_FORMAT,
     "unknown dtype \"f32\""},
    {"shape_missing", "{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", LEN_AUTO, 4,
     TS_ERR_FORMAT, "tensor t: \"shape\" must be an array of integers, got nothing"},
    {"shape_object", T1("\"F32\"", "{}", "[0,4]"), LEN_AUTO, 4, TS_ERR_FORMAT,
     "\"shape\" must be an array of integers, got an object"},
    {"shape_negative", T1("\"F32\"", "[2,-1]", "[0,4]"), LEN_AUTO, 4, TS_ERR_FORMAT,
     "tensor t: shape entry 1 must be a non-negative integer, got a number that is negative"},
    {"shape_float", T1("\"F32\"", "[1.5]", "[0,4]"), LEN_AUTO, 4, TS_ERR_FORMAT,
     "shape entry 0 must be a non-negative integer, got a number that is negative, fractional"},
    {"shape_string", T1("\"F32\"", "[\"1\"]", "[0,4]"), LEN_AUTO, 4, TS_ERR_FORMAT,
     "shape entry 0 must be a non-negative integer, got a string"},
    {"shape_huge", T1("\"F32\"", "[1e300]", "[0,4]"), LEN_AUTO, 4, TS_ERR_FORMAT, "too large"},
    {"shape_overflow", T1("\"F32\"", "[4294967296,4294967296,16]", "[0,4]"), LEN_AUTO, 4,
     TS_ERR_FORMAT, "overflows the size of memory"},
    {"shape_overflow_bits", T1("\"F64\"", "[4611686018427387904]", "[0,4]"), LEN_AUTO, 4,
     TS_ERR_FORMAT, "too large"},
    {"offsets_missing", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", LEN_AUTO, 4, TS_ERR_FORMAT,
     "tensor t: \"data_offsets\" must be an array [begin, end] of two integers, got nothing"},
    {"offsets_three", T1("\"F32\"", "[1]", "[0,4,8]"), LEN_AUTO, 8, TS_ERR_FORMAT,
     "got an array of another length"},
    {"offsets_negative", T1("\"F32\"", "[1]", "[-4,0]"), LEN_AUTO, 4, TS_ERR_FORMAT,
     "\"data_offsets\" must be two non-negative integers"},
    {"offsets_string", T1("\"F32\"", "[1]", "[\"0\",4]"), LEN_AUTO, 4, TS_ERR_FORMAT,
     "\"data_offsets\" must be two non-negative integers"},
    {"offsets_reversed", T1("\"F32\"", "[1]", "[4,0]"), LEN_AUTO, 4, TS_ERR_FORMAT,
     "tensor t: data_offsets [4,0] end before they begin"},
    {"offsets_beyond", T1("\"F32\"", "[2]", "[0,8]"), LEN_AUTO, 4, TS_ERR_FORMAT,
     "tensor t: data_offsets [0,8] beyond the data buffer (size 4)"},
    {"offsets_far_beyond", T1("\"F32\"", "[1]", "[9007199254740000,9007199254740004]"), LEN_AUTO, 4,
     TS_ERR_FORMAT, "beyond the data buffer (size 4)"},
    {"size_mismatch", T1("\"F32\"", "[2,3]", "[0,20]"), LEN_AUTO, 20, TS_ERR_FORMAT,
     "tensor t: shape [2,3] of F32 is 24 bytes but data_offsets [0,20] span 20"},
    {"size_mismatch_f16", T1("\"F16\"", "[3]", "[0,4]"), LEN_AUTO, 4, TS_ERR_FORMAT,
     "shape [3] of F16 is 6 bytes but data_offsets [0,4] span 4"},
    {"subbyte_partial", T1("\"F4\"", "[3]", "[0,2]"), LEN_AUTO, 2, TS_ERR_FORMAT,
     "shape [3] of F4 is not a whole number of bytes"},
    {"overlap",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}",
     LEN_AUTO, 6, TS_ERR_FORMAT, "tensor b: data_offsets [2,6] overlap tensor a (which ends at 4)"},
    {"same_range",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
     LEN_AUTO, 4, TS_ERR_FORMAT, "overlap tensor a"},
    {"hole",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[6,10]}}",
     LEN_AUTO, 10, TS_ERR_FORMAT,
     "tensor b: data_offsets [6,10] leave a hole: bytes [4,6) of the data buffer belong to no "
     "tensor"},
    {"hole_at_start", T1("\"U8\"", "[4]", "[2,6]"), LEN_AUTO, 6, TS_ERR_FORMAT,
     "leave a hole: bytes [0,2)"},
    {"trailing_data", T1("\"U8\"", "[4]", "[0,4]"), LEN_AUTO, 9, TS_ERR_FORMAT,
     "the tensors cover 4 bytes but the data buffer has 9"},
    {"no_tensors_but_data", "{}", LEN_AUTO, 3, TS_ERR_FORMAT,
     "the tensors cover 0 bytes but the data buffer has 3"},
    {"duplicate",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
     LEN_AUTO, 8, TS_ERR_FORMAT, "tensor a appears twice in the header"},
    {"name_control", "{\"a\\nb\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
     LEN_AUTO, 1, TS_ERR_FORMAT, "tensor #1: the name is empty or has a control character"},
    {"name_nul",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
     "\"\\u0000x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
     LEN_AUTO, 2, TS_ERR_FORMAT, "tensor #2: the name is empty"},
    {"metadata_not_object", "{\"__metadata__\":[1]}", LEN_AUTO, 0, TS_ERR_FORMAT,
     "__metadata__ must be an object of strings, got an array"},
    {"metadata_number", "{\"__metadata__\":{\"format\":1}}", LEN_AUTO, 0, TS_ERR_FORMAT,
     "__metadata__ value \"format\" must be a string, got a number"},
};

static void test_bad_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof k_bad / sizeof k_bad[0]; i++) {
        const bad_case *c = &k_bad[i];
        const char *path = tmp_path(c->name);
        uint64_t len = c->header_len == LEN_AUTO ? strlen(c->header) : c->header_len;
        if (!strcmp(c->name, "nul_padding")) {
            /* header with embedded NULs: write by hand */
            unsigned char buf[12] = {4, 0, 0, 0, 0, 0, 0, 0, '{', '}', 0, 0};
            assert_int_equal(stw_write_bytes(path, buf, sizeof buf, NULL, 0), 0);
        } else {
            assert_int_equal(stw_write_raw(path, len, c->header, c->data), 0);
        }
        expect_fail(path, c->status, c->want);
    }
}

static void test_missing_empty_short(void **state)
{
    (void)state;
    expect_fail(tmp_path("does_not_exist.safetensors"), TS_ERR_IO, "No such file");
    const char *empty = tmp_path("empty.safetensors");
    assert_int_equal(stw_write_bytes(empty, "", 0, NULL, 0), 0);
    expect_fail(empty, TS_ERR_FORMAT, "file is 0 bytes, too short for the 8-byte header length");
    const char *five = tmp_path("five.safetensors");
    assert_int_equal(stw_write_bytes(five, "\x02\0\0\0\0", 5, NULL, 0), 0);
    expect_fail(five, TS_ERR_FORMAT, "file is 5 bytes");
    expect_fail(g_dir, TS_ERR_IO, "not a regular file");
    /* valid header, data cut short */
    const char *cut = tmp_path("cut.safetensors");
    const char *h = T1("\"F32\"", "[4]", "[0,16]");
    assert_int_equal(stw_write_raw(cut, strlen(h), h, 10), 0);
    expect_fail(cut, TS_ERR_FORMAT,
                "tensor t: data_offsets [0,16] beyond the data buffer (size 10)");
}

/* ---- never crash ---------------------------------------------------------- */

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)sz);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

/* Open must return OK (with a sane handle) or an error with a message. */
static int try_open(const char *path)
{
    ts_safetensors *st = NULL;
    char err[TS_ERR_SIZE] = "";
    ts_status s = ts_safetensors_open_file(path, &st, err, sizeof err);
    if (s == TS_OK) {
        assert_non_null(st);
        for (size_t i = 0; i < ts_safetensors_count(st); i++) {
            const ts_tensor *t = ts_safetensors_get(st, i);
            assert_ptr_equal(ts_safetensors_find(st, t->name), t);
            /* touch the first and last byte: must be inside the mapping */
            if (t->nbytes) {
                volatile unsigned char x = ((const unsigned char *)t->data)[0];
                x = ((const unsigned char *)t->data)[t->nbytes - 1];
                (void)x;
            }
        }
        ts_safetensors_close(st);
        return 1;
    }
    assert_null(st);
    assert_true(err[0] != '\0');
    return 0;
}

static void test_fuzz(void **state)
{
    (void)state;
    const char *src = tmp_path("fuzz_src.safetensors");
    stw w = {0};
    int64_t s23[2] = {2, 3}, s4[1] = {4}, s0[1] = {0};
    stw_add(&w, "a", "a", "F32", 2, s23);
    stw_add(&w, "bb", "bb", "F16", 1, s4);
    stw_add(&w, "c", "c", "BF16", 1, s4);
    stw_add(&w, "e", "e", "U8", 1, s0);
    assert_int_equal(stw_save(&w, src), 0);
    stw_free(&w);
    size_t n;
    unsigned char *orig = read_all(src, &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | orig[i];
    assert_true(8 + hlen < n);
    const char *path = tmp_path("fuzz.safetensors");

    /* every truncation */
    size_t ok = 0;
    for (size_t len = 0; len <= n; len++) {
        assert_int_equal(stw_write_bytes(path, orig, len, NULL, 0), 0);
        ok += (size_t)try_open(path);
    }
    assert_int_equal(ok, 1); /* only the whole file opens */

    /* byte replacements at every header offset (length field included) */
    static const unsigned char k_vals[] = {0x00, 0xff, '{', '}', '"', ',', ':',  '[', ']',
                                           '-',  '0',  '9', ' ', 'e', '.', 0x80, 0xc3};
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    size_t opened = 0, tried = 0;
    for (size_t at = 0; at < 8 + hlen; at++) {
        for (size_t v = 0; v < sizeof k_vals + 1; v++) {
            memcpy(buf, orig, n);
            buf[at] = v < sizeof k_vals ? k_vals[v] : (unsigned char)(orig[at] ^ 0x01);
            if (buf[at] == orig[at]) continue;
            assert_int_equal(stw_write_bytes(path, buf, n, NULL, 0), 0);
            opened += (size_t)try_open(path);
            tried++;
        }
    }
    /* Most corruptions must be caught; a few (a digit in a name, a space in
     * padding) legitimately still open. */
    assert_true(tried > 1000);
    assert_true(opened < tried / 4);
    free(buf);
    free(orig);
}

/* ---- directories and shards ----------------------------------------------- */

static void make_dir(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", g_dir, name);
    assert_int_equal(mkdir(out, 0700), 0);
}

static void expect_dir_fail(const char *dir, ts_status s, const char *want)
{
    ts_safetensors *st = (ts_safetensors *)0x1;
    char err[TS_ERR_SIZE] = "";
    ts_status got = ts_safetensors_open(dir, &st, err, sizeof err);
    if (got != s || strstr(err, want) == NULL)
        fail_msg("%s: expected status %d and \"%s\", got %d: \"%s\"", dir, s, want, got, err);
    assert_null(st);
}

static void write_shard(const char *dir, const char *file, const char *tensor, const char *dtype)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    stw w = {0};
    int64_t s2[1] = {2};
    stw_add(&w, tensor, tensor, dtype, 1, s2);
    assert_int_equal(stw_save(&w, path), 0);
    stw_free(&w);
}

static void write_index(const char *dir, const char *json)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    assert_int_equal(stw_write_text(path, json), 0);
}

static void test_dir_resolution(void **state)
{
    (void)state;
    char d[700], p[900], err[TS_ERR_SIZE];
    ts_safetensors *st;

    make_dir(d, sizeof d, "nothing");
    expect_dir_fail(d, TS_ERR_NOT_FOUND, "no model.safetensors or model.safetensors.index.json");
    snprintf(p, sizeof p, "%s/pytorch_model.bin", d);
    assert_int_equal(stw_write_text(p, "PK\x03\x04 pickle"), 0);
    expect_dir_fail(d, TS_ERR_UNSUPPORTED, "pickle checkpoints are not loaded");
    expect_dir_fail(d, TS_ERR_UNSUPPORTED, "convert it to model.safetensors");

    /* model.safetensors wins over a (here broken) index, as in transformers */
    make_dir(d, sizeof d, "both");
    write_shard(d, "model.safetensors", "single", "F32");
    write_index(d, "not json");
    assert_int_equal(ts_safetensors_open(d, &st, err, sizeof err), TS_OK);
    assert_non_null(ts_safetensors_find(st, "single"));
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    assert_string_equal(ts_safetensors_path(st), p);
    ts_safetensors_close(st);
}

static void test_sharded(void **state)
{
    (void)state;
    char d[700], err[TS_ERR_SIZE];
    ts_safetensors *st = NULL;

    make_dir(d, sizeof d, "sharded");
    write_shard(d, "model-00001-of-00002.safetensors", "x", "F32");
    write_shard(d, "model-00002-of-00002.safetensors", "y", "F16");
    write_index(d, "{\"metadata\":{\"total_size\":12},\"weight_map\":{"
                   "\"x\":\"model-00001-of-00002.safetensors\","
                   "\"y\":\"model-00002-of-00002.safetensors\"}}");
    ts_status s = ts_safetensors_open(d, &st, err, sizeof err);
    if (s != TS_OK) fail_msg("%s", err);
    assert_int_equal(ts_safetensors_count(st), 2);
    const ts_tensor *x = ts_safetensors_find(st, "x"), *y = ts_safetensors_find(st, "y");
    assert_non_null(x);
    assert_non_null(y);
    assert_non_null(strstr(x->file, "model-00001-of-00002.safetensors"));
    assert_non_null(strstr(y->file, "model-00002-of-00002.safetensors"));
    assert_true(((const float *)x->data)[1] == stw_value("x", 1));
    assert_true(stw_f16_to_f32(((const uint16_t *)y->data)[1]) == stw_value("y", 1));
    assert_non_null(strstr(ts_safetensors_path(st), "model.safetensors.index.json"));
    ts_safetensors_close(st);

    /* a shard named in the map is missing */
    make_dir(d, sizeof d, "missing_shard");
    write_shard(d, "model-00001-of-00002.safetensors", "x", "F32");
    write_index(d, "{\"weight_map\":{\"x\":\"model-00001-of-00002.safetensors\","
                   "\"y\":\"model-00002-of-00002.safetensors\"}}");
    expect_dir_fail(d, TS_ERR_IO,
                    "shard model-00002-of-00002.safetensors named in weight_map is missing");

    /* a tensor in the wrong shard */
    make_dir(d, sizeof d, "wrong_shard");
    write_shard(d, "a.safetensors", "x", "F32");
    write_shard(d, "b.safetensors", "y", "F32");
    write_index(d, "{\"weight_map\":{\"x\":\"b.safetensors\",\"y\":\"b.safetensors\","
                   "\"z\":\"a.safetensors\"}}");
    expect_dir_fail(d, TS_ERR_FORMAT,
                    "tensor x is mapped to b.safetensors but is in a.safetensors");

    /* a tensor the map names that no shard holds */
    make_dir(d, sizeof d, "absent_tensor");
    write_shard(d, "a.safetensors", "x", "F32");
    write_index(d, "{\"weight_map\":{\"x\":\"a.safetensors\",\"w\":\"a.safetensors\"}}");
    expect_dir_fail(d, TS_ERR_FORMAT, "tensor w is mapped to a.safetensors but no shard holds it");

    /* the same tensor in two shards */
    make_dir(d, sizeof d, "dup_across");
    write_shard(d, "a.safetensors", "x", "F32");
    write_shard(d, "b.safetensors", "x", "F32");
    write_index(d, "{\"weight_map\":{\"x\":\"a.safetensors\",\"y\":\"b.safetensors\"}}");
    expect_dir_fail(d, TS_ERR_FORMAT, "tensor x appears in two shards");

    /* a corrupt shard is reported by its own name */
    make_dir(d, sizeof d, "corrupt_shard");
    write_shard(d, "a.safetensors", "x", "F32");
    char p[900];
    snprintf(p, sizeof p, "%s/b.safetensors", d);
    assert_int_equal(stw_write_raw(p, 100, "{}", 0), 0);
    write_index(d, "{\"weight_map\":{\"x\":\"a.safetensors\",\"y\":\"b.safetensors\"}}");
    expect_dir_fail(d, TS_ERR_FORMAT, "b.safetensors: header length 100 beyond the end");

    /* index errors */
    make_dir(d, sizeof d, "index_errors");
    write_shard(d, "a.safetensors", "x", "F32");
    write_index(d, "{\"weight_map\":{\"x\":\"a.safetensors\"");
    expect_dir_fail(d, TS_ERR_FORMAT, "model.safetensors.index.json: invalid JSON");
    write_index(d, "{\"weight_map\":[\"a.safetensors\"]}");
    expect_dir_fail(d, TS_ERR_FORMAT, "\"weight_map\" must be an object {tensor: shard file}");
    write_index(d, "{\"metadata\":{}}");
    expect_dir_fail(d, TS_ERR_FORMAT, "\"weight_map\" must be an object");
    write_index(d, "{\"weight_map\":{}}");
    expect_dir_fail(d, TS_ERR_FORMAT, "weight_map is empty");
    write_index(d, "{\"weight_map\":{\"x\":3}}");
    expect_dir_fail(d, TS_ERR_FORMAT, "weight_map entry \"x\" must be a shard file name");
    write_index(d, "{\"weight_map\":{\"x\":\"../a.safetensors\"}}");
    expect_dir_fail(d, TS_ERR_FORMAT, "must be a plain file name in the same directory");
    write_index(d, "{\"weight_map\":{\"x\":\"a.safetensors\"}} trailing");
    expect_dir_fail(d, TS_ERR_FORMAT, "unexpected text after the JSON object");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_file), cmocka_unit_test(test_valid_variants),
        cmocka_unit_test(test_bad_files),  cmocka_unit_test(test_missing_empty_short),
        cmocka_unit_test(test_fuzz),       cmocka_unit_test(test_dir_resolution),
        cmocka_unit_test(test_sharded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

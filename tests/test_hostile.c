/*
 * test_hostile.c — hostile files (issue 15): each case is a file an attacker
 * controls (a checkpoint from anywhere, a cache entry, a user's CSV / NPY)
 * that once crashed, hung, ate memory or printed raw control bytes. Every
 * case runs the library in a forked child with a wall-clock limit, so a
 * regression shows up as a failed test (timed out / killed / too much
 * memory) instead of a hung or swapping test run, and the child's peak RSS
 * (wait4) bounds what a parser may allocate for a small hostile file.
 *
 * Defects covered (numbers of issue 15): 1 (use-after-free in the cached
 * index check), 7 (allocations sized by untrusted counts: merges.txt,
 * safetensors header, NPY shape, CSV width), 8 (FIFOs, devices, oversized
 * JSON), 9 (control characters in messages and shard names), 10 (padded
 * vocabulary), 11 (one shard-name rule for pull and load).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "st_writer.h"

static char g_dir[512];

static const char *tmp_path(const char *name)
{
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static void make_dir(const char *path)
{
    char cmd[2100];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    assert_int_equal(system(cmd), 0);
}

/* A file of `n` copies of `unit` (then `tail`), written in big chunks. */
static void write_repeated(const char *path, const char *head, const char *unit, size_t n,
                           const char *tail)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(head, f);
    size_t ul = strlen(unit), chunk = 65536 / ul;
    char *buf = malloc(chunk * ul);
    assert_non_null(buf);
    for (size_t i = 0; i < chunk; i++)
        memcpy(buf + i * ul, unit, ul);
    for (size_t done = 0; done < n;) {
        size_t k = n - done < chunk ? n - done : chunk;
        assert_int_equal(fwrite(buf, ul, k, f), k);
        done += k;
    }
    free(buf);
    fputs(tail, f);
    assert_int_equal(fclose(f), 0);
}

/* ---- running the library in a child ----------------------------------------- */

typedef struct child_result {
    int exit_code;  /* fn's return value, or -1 when killed */
    int signal;     /* the signal that killed it (SIGALRM: the time limit) */
    long maxrss_kb; /* peak resident set */
    char msg[TS_ERR_SIZE];
} child_result;

typedef int (*child_fn)(void *arg, char *err, size_t err_size);

/* Run fn(arg) in a forked child limited to `seconds`; fn's message comes back through a pipe. */
static child_result in_child(child_fn fn, void *arg, unsigned seconds)
{
    child_result r;
    memset(&r, 0, sizeof r);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        alarm(seconds);
        char err[TS_ERR_SIZE] = "";
        int code = fn(arg, err, sizeof err);
        ssize_t w = write(fds[1], err, strlen(err));
        (void)w;
        _exit(code);
    }
    close(fds[1]);
    ssize_t got, total = 0;
    while ((got = read(fds[0], r.msg + total, sizeof r.msg - 1 - (size_t)total)) > 0)
        total += got;
    r.msg[total] = '\0';
    close(fds[0]);
    int status = 0;
    struct rusage ru;
    assert_int_equal(wait4(pid, &status, 0, &ru), pid);
    r.maxrss_kb = ru.ru_maxrss;
    if (WIFEXITED(status)) {
        r.exit_code = WEXITSTATUS(status);
    } else {
        r.exit_code = -1;
        r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
    return r;
}

static int do_nothing(void *arg, char *err, size_t err_size)
{
    (void)arg, (void)err, (void)err_size;
    return 0;
}

/* Peak RSS of a child that does nothing: what the test process brings along. */
static long baseline_rss_kb(void)
{
    return in_child(do_nothing, NULL, 10).maxrss_kb;
}

/* The child returned status `want` (a ts_status, negated into an exit code). */
static void expect_child(const child_result *r, ts_status want, const char *needle)
{
    if (r->exit_code < 0)
        fail_msg("child killed by signal %d (%s)%s", r->signal, strsignal(r->signal),
                 r->signal == SIGALRM ? ": it hung past the time limit" : "");
    if (r->exit_code != -(int)want || (needle && !strstr(r->msg, needle)))
        fail_msg("expected status %d and \"%s\", got %d: \"%s\"", want, needle ? needle : "",
                 -r->exit_code, r->msg);
}

/* No byte of msg is a C0 control or DEL (it is one line, safe on a terminal). */
static void assert_printable(const char *msg)
{
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f) fail_msg("raw control byte 0x%02x in \"%s\"", *p, msg);
}

/* ---- a tiny GPT-2 tokenizer: the 256 byte tokens, 3 merges, <|endoftext|> ---- */

static void byte_token_utf8(int b, char *out)
{
    int n = 0, cp;
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    if (printable) {
        cp = b;
    } else {
        for (int x = 0; x < b; x++) {
            bool p = (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
            if (!p) n++;
        }
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = '\0';
    } else {
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = '\0';
    }
}

/* dir/vocab.json (260 tokens) and dir/merges.txt ("t h", "th e", "Ġ the"). */
static void write_tiny_tokenizer(const char *dir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputc('{', f);
    for (int b = 0; b < 256; b++) {
        char t[4];
        byte_token_utf8(b, t);
        fprintf(f, "%s\"%s%s\":%d", b ? "," : "", (t[0] == '"' || t[0] == '\\') ? "\\" : "", t, b);
    }
    fprintf(f, ",\"th\":256,\"the\":257,\"\xc4\xa0the\":258,\"<|endoftext|>\":259}");
    assert_int_equal(fclose(f), 0);
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    assert_int_equal(stw_write_text(path, "#version: 0.2\nt h\nth e\n\xc4\xa0 the\n"), 0);
}

/* ---- defect 8: non-regular files and oversized JSON -------------------------- */

typedef struct paths2 {
    const char *a, *b;
} paths2;

static int load_config(void *arg, char *err, size_t n)
{
    ts_model_info info;
    return -(int)ts_config_load(arg, &info, err, n);
}

static int load_tokenizer(void *arg, char *err, size_t n)
{
    const paths2 *p = arg;
    ts_tokenizer *tok = NULL;
    ts_status st = ts_tokenizer_load(p->a, p->b, &tok, err, n);
    ts_tokenizer_free(tok);
    return -(int)st;
}

static int load_safetensors_file(void *arg, char *err, size_t n)
{
    ts_safetensors *st = NULL;
    ts_status s = ts_safetensors_open_file(arg, &st, err, n);
    ts_safetensors_close(st);
    return -(int)s;
}

static int load_safetensors_dir(void *arg, char *err, size_t n)
{
    ts_safetensors *st = NULL;
    ts_status s = ts_safetensors_open(arg, &st, err, n);
    ts_safetensors_close(st);
    return -(int)s;
}

static int load_npy_labels(void *arg, char *err, size_t n)
{
    int32_t *labels = NULL;
    size_t count = 0;
    ts_status st = ts_npy_read_labels(arg, &labels, &count, err, n);
    free(labels);
    return -(int)st;
}

static int load_npy_f32(void *arg, char *err, size_t n)
{
    float *data = NULL;
    int32_t ndim = 0;
    size_t shape[TS_NPY_MAX_DIM];
    ts_status st = ts_npy_read_f32(arg, &data, &ndim, shape, err, n);
    free(data);
    return -(int)st;
}

static int load_csv(void *arg, char *err, size_t n)
{
    float *z = NULL;
    int32_t *y = NULL;
    size_t rows = 0, k = 0;
    ts_status st = ts_csv_read_logits(arg, &z, &y, &rows, &k, err, n);
    free(z);
    free(y);
    return -(int)st;
}

static void test_nonregular_files(void **state)
{
    (void)state;
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/devices", g_dir);
    make_dir(dir);
    char fifo[1200];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);

    /* config.json -> /dev/zero: once read until memory ran out. */
    char cfg[1200];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    assert_int_equal(symlink("/dev/zero", cfg), 0);
    child_result r = in_child(load_config, dir, 20);
    expect_child(&r, TS_ERR_IO, "not a regular file");
    assert_non_null(strstr(r.msg, "config.json"));

    /* vocab.json -> a FIFO nobody writes: once blocked forever in open(). */
    char vocab[1200], merges[1200];
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    snprintf(merges, sizeof merges, "%s/merges.txt", dir);
    assert_int_equal(symlink(fifo, vocab), 0);
    assert_int_equal(symlink("/dev/urandom", merges), 0);
    paths2 tp = {vocab, merges};
    r = in_child(load_tokenizer, &tp, 20);
    expect_child(&r, TS_ERR_IO, "not a regular file");
    assert_non_null(strstr(r.msg, "vocab.json"));
    /* merges.txt -> /dev/urandom, with a good vocab.json. */
    char good[1100];
    snprintf(good, sizeof good, "%s/goodtok", g_dir);
    make_dir(good);
    write_tiny_tokenizer(good);
    char good_vocab[1200];
    snprintf(good_vocab, sizeof good_vocab, "%s/vocab.json", good);
    tp.a = good_vocab;
    r = in_child(load_tokenizer, &tp, 20);
    expect_child(&r, TS_ERR_IO, "not a regular file");
    assert_non_null(strstr(r.msg, "merges.txt"));

    /* a .safetensors FIFO (opened directly, as tests and tools do) */
    r = in_child(load_safetensors_file, fifo, 20);
    expect_child(&r, TS_ERR_IO, "not a regular file");
    /* user files: .npy and .csv */
    r = in_child(load_npy_labels, fifo, 20);
    expect_child(&r, TS_ERR_IO, "not a regular file");
    r = in_child(load_csv, "/dev/zero", 20);
    expect_child(&r, TS_ERR_IO, "not a regular file");

    /* A config.json over the 1 MiB cap (valid JSON padded with spaces) is refused unread. */
    char big[1100];
    snprintf(big, sizeof big, "%s/bigcfg", g_dir);
    make_dir(big);
    snprintf(cfg, sizeof cfg, "%s/config.json", big);
    write_repeated(cfg,
                   "{\"n_layer\":1,\"n_head\":1,\"n_embd\":4,\"n_positions\":4,\"vocab_size\":4}",
                   " ", (size_t)2 << 20, "\n");
    r = in_child(load_config, big, 20);
    expect_child(&r, TS_ERR_RANGE, "larger than");
    assert_non_null(strstr(r.msg, "config.json"));
}

/* ---- defect 7: allocations bounded by what the file can hold ------------------ */

static void test_merges_newline_flood(void **state)
{
    (void)state;
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/flood", g_dir);
    make_dir(dir);
    write_tiny_tokenizer(dir);
    /* 3 merges then 15 M blank lines: valid (blank lines may end the file). The
     * merge table was sized from the newline count: 2^25 slots, 512 MiB. */
    char merges[1200], vocab[1200];
    snprintf(merges, sizeof merges, "%s/merges.txt", dir);
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    write_repeated(merges, "#version: 0.2\nt h\nth e\n\xc4\xa0 the\n", "\n", (size_t)15 << 20, "");
    long base = baseline_rss_kb();
    paths2 tp = {vocab, merges};
    child_result r = in_child(load_tokenizer, &tp, 60);
    expect_child(&r, TS_OK, NULL);
    long used_mb = (r.maxrss_kb - base) / 1024;
    /* The file itself is 15 MiB and is held twice (text + scratch). */
    if (used_mb > 96) fail_msg("a 15 MiB merges.txt of blank lines took %ld MiB", used_mb);
}

static void test_safetensors_shape_flood(void **state)
{
    (void)state;
    /* One U8 tensor of one byte whose shape is 4 M ones: an 8 MiB header that
     * cJSON turned into 4 M nodes (~320 MiB). */
    const char *path = tmp_path("shape_flood.safetensors");
    size_t n_ones = (size_t)4 << 20;
    const char *head = "{\"t\":{\"dtype\":\"U8\",\"data_offsets\":[0,1],\"shape\":[1";
    const char *tail = "]}}";
    uint64_t hlen = strlen(head) + 2 * n_ones + strlen(tail);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 8; i++)
        fputc((int)((hlen >> (8 * i)) & 0xff), f);
    assert_int_equal(fclose(f), 0);
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.body", path);
    write_repeated(tmp, head, ",1", n_ones, "]}}\x01");
    char cmd[2600];
    snprintf(cmd, sizeof cmd, "cat '%s' >> '%s' && rm '%s'", tmp, path, tmp);
    assert_int_equal(system(cmd), 0);
    long base = baseline_rss_kb();
    child_result r = in_child(load_safetensors_file, (void *)path, 60);
    expect_child(&r, TS_ERR_FORMAT, "JSON values");
    long used_mb = (r.maxrss_kb - base) / 1024;
    if (used_mb > 64) fail_msg("an 8 MiB safetensors header took %ld MiB", used_mb);
}

static void test_npy_shape_beyond_file(void **state)
{
    (void)state;
    /* A 128-byte .npy whose header promises 4 TB of float32. */
    const char *path = tmp_path("huge.npy");
    char hdr[118];
    int n = snprintf(hdr, sizeof hdr,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (1200000000000,), }");
    memset(hdr + n, ' ', sizeof hdr - (size_t)n);
    hdr[sizeof hdr - 1] = '\n';
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, sizeof hdr, 0};
    assert_int_equal(stw_write_bytes(path, pre, sizeof pre, hdr, sizeof hdr), 0);
    long base = baseline_rss_kb();
    child_result r = in_child(load_npy_f32, (void *)path, 20);
    expect_child(&r, TS_ERR_FORMAT, "truncated npy data");
    assert_non_null(strstr(r.msg, "4800000000000 bytes"));
    assert_true((r.maxrss_kb - base) / 1024 < 32);
}

static void test_csv_wide_header(void **state)
{
    (void)state;
    /* A header of 8 M columns and a 2-column row: the row buffer was sized
     * 1024 rows x K floats = 32 GiB before the row was read. */
    const char *path = tmp_path("wide.csv");
    write_repeated(path, "label", ",x", (size_t)8 << 20, "\n0,1.5\n");
    long base = baseline_rss_kb();
    child_result r = in_child(load_csv, (void *)path, 60);
    expect_child(&r, TS_ERR_FORMAT, "2 columns, the header has 8388609");
    long used_mb = (r.maxrss_kb - base) / 1024;
    if (used_mb > 96) fail_msg("a 16 MiB CSV took %ld MiB", used_mb);
}

/* ---- defect 10: a padded vocabulary is refused at load ----------------------- */

static int load_model(void *arg, char *err, size_t n)
{
    ts_model_params mp = ts_model_default_params();
    ts_model *m = NULL;
    ts_status st = ts_model_load(arg, &mp, &m, err, n);
    ts_model_free(m);
    return -(int)st;
}

static void test_padded_vocab(void **state)
{
    (void)state;
    char dir[1100];
    /* vocab.json has 260 tokens; a checkpoint of exactly 260 loads ... */
    snprintf(dir, sizeof dir, "%s/exact_vocab", g_dir);
    make_dir(dir);
    stw_gpt2 g = stw_gpt2_default();
    g.n_vocab = 260;
    assert_int_equal(stw_gpt2_write(dir, &g), 0);
    write_tiny_tokenizer(dir);
    child_result r = in_child(load_model, dir, 30);
    expect_child(&r, TS_OK, NULL);
    /* ... one padded to 264 rows is refused: ids 260..263 have no bytes, and
     * generation used to fail only when one was sampled, after partial output. */
    snprintf(dir, sizeof dir, "%s/padded_vocab", g_dir);
    make_dir(dir);
    g.n_vocab = 264;
    assert_int_equal(stw_gpt2_write(dir, &g), 0);
    write_tiny_tokenizer(dir);
    r = in_child(load_model, dir, 30);
    expect_child(&r, TS_ERR_FORMAT, "vocab.json has 260 tokens but config.json vocab_size is 264");
}

/* ---- defects 1, 9, 11: the weight_map of a cached or local index -------------- */

#define COMMIT "0123456789abcdef0123456789abcdef01234567"

/* A cache holding o/n@main whose snapshot has the given index (and a shard file). */
static void make_cached_index(const char *cache, const char *index_json, const char *shard)
{
    char snap[1200], path[1500];
    snprintf(snap, sizeof snap, "%s/models--o--n/snapshots/" COMMIT, cache);
    make_dir(snap);
    snprintf(path, sizeof path, "%s/models--o--n/refs", cache);
    make_dir(path);
    snprintf(path, sizeof path, "%s/models--o--n/refs/main", cache);
    assert_int_equal(stw_write_text(path, COMMIT), 0);
    write_tiny_tokenizer(snap);
    snprintf(path, sizeof path, "%s/config.json", snap);
    assert_int_equal(stw_write_text(path, "{}"), 0);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", snap);
    assert_int_equal(stw_write_text(path, index_json), 0);
    if (shard) {
        snprintf(path, sizeof path, "%s/%s", snap, shard);
        char *slash = strrchr(path, '/');
        *slash = '\0';
        make_dir(path);
        *slash = '/';
        stw w = {0};
        int64_t s2[1] = {2};
        stw_add(&w, "x", "x", "F32", 1, s2);
        assert_int_equal(stw_save(&w, path), 0);
        stw_free(&w);
    }
}

static ts_status resolve(const char *cache, char *err, size_t n)
{
    char dir[TS_HUB_PATH_MAX];
    return ts_hub_resolve_cached(cache, "o/n", "main", dir, sizeof dir, err, n);
}

static void test_cached_index_bad_entry_message(void **state)
{
    (void)state;
    /* The rejected entry's name was read after its JSON tree was freed. */
    char cache[1100], err[TS_ERR_SIZE] = "";
    snprintf(cache, sizeof cache, "%s/cache_uaf", g_dir);
    const char *name = "transformer.h.11.mlp.c_proj.weight.of.a.long.tensor.name";
    char json[512];
    snprintf(json, sizeof json, "{\"weight_map\":{\"%s\":12345}}", name);
    make_cached_index(cache, json, NULL);
    assert_int_equal(resolve(cache, err, sizeof err), TS_ERR_NOT_FOUND);
    if (!strstr(err, name)) fail_msg("the message does not name the entry: \"%s\"", err);
    assert_non_null(strstr(err, "must be a shard file name"));
}

static void test_one_shard_name_rule(void **state)
{
    (void)state;
    /* A shard in a subdirectory: pull accepted it, the loader refused it. Now
     * both refuse, with the same words. */
    char cache[1100], err_pull[TS_ERR_SIZE] = "", err_load[TS_ERR_SIZE] = "";
    snprintf(cache, sizeof cache, "%s/cache_subdir", g_dir);
    make_cached_index(cache, "{\"weight_map\":{\"x\":\"sub/dir/a.safetensors\"}}",
                      "sub/dir/a.safetensors");
    assert_int_equal(resolve(cache, err_pull, sizeof err_pull), TS_ERR_NOT_FOUND);
    char snap[1200];
    snprintf(snap, sizeof snap, "%s/models--o--n/snapshots/" COMMIT, cache);
    child_result r = in_child(load_safetensors_dir, snap, 20);
    snprintf(err_load, sizeof err_load, "%s", r.msg);
    expect_child(&r, TS_ERR_FORMAT, "must be a plain file name");
    assert_non_null(strstr(err_pull, "must be a plain file name"));

    /* Control characters in a shard name: refused (never a file name), and the
     * message shows them escaped. */
    snprintf(cache, sizeof cache, "%s/cache_ctrl", g_dir);
    make_cached_index(cache, "{\"weight_map\":{\"x\":\"a\\u001b[2J\\nb.safetensors\"}}", NULL);
    assert_int_equal(resolve(cache, err_pull, sizeof err_pull), TS_ERR_NOT_FOUND);
    assert_printable(err_pull);
    assert_non_null(strstr(err_pull, "must be a plain file name"));
    assert_non_null(strstr(err_pull, "\\x1b[2J"));
}

/* ---- defect 9: messages quoting outside text are one printable line ---------- */

static void test_messages_escape_control_chars(void **state)
{
    (void)state;
    char dir[1100], path[1200], err[TS_ERR_SIZE] = "";
    snprintf(dir, sizeof dir, "%s/esc_config", g_dir);
    make_dir(dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(stw_write_text(path, "{\"model_type\":\"\\u001b]0;owned\\u0007\\r\\nllama\"}"),
                     0);
    ts_model_info info;
    assert_int_equal(ts_config_load(dir, &info, err, sizeof err), TS_ERR_UNSUPPORTED);
    assert_printable(err);
    assert_non_null(strstr(err, "\\x1b]0;owned\\x07\\x0d\\x0allama"));
    /* ts_errorf itself: C0, DEL, C1 and bytes that are not UTF-8 are escaped;
     * UTF-8 text passes through. */
    char out[64];
    ts_errorf(out, sizeof out, TS_ERR_FORMAT, "%s", "a\tb\x7f\xc2\x9b\xff \xc3\xa9");
    assert_string_equal(out, "a\\x09b\\x7f\\xc2\\x9b\\xff \xc3\xa9");
    /* truncated, still NUL-terminated and never half an escape */
    ts_errorf(out, 8, TS_ERR_FORMAT, "%s", "abcd\x1b");
    assert_string_equal(out, "abcd");
}

static int setup(void **state)
{
    (void)state;
    return stw_mkdtemp(g_dir, sizeof g_dir);
}

static int teardown(void **state)
{
    (void)state;
    stw_rmdir_depth(g_dir, 12);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonregular_files),
        cmocka_unit_test(test_merges_newline_flood),
        cmocka_unit_test(test_safetensors_shape_flood),
        cmocka_unit_test(test_npy_shape_beyond_file),
        cmocka_unit_test(test_csv_wide_header),
        cmocka_unit_test(test_padded_vocab),
        cmocka_unit_test(test_cached_index_bad_entry_message),
        cmocka_unit_test(test_one_shard_name_rule),
        cmocka_unit_test(test_messages_escape_control_chars),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

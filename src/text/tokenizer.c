/*
 * tokenizer.c — GPT-2's byte-level BPE, exactly as OpenAI's encoder.py.
 *
 * Files (Hugging Face / OpenAI layout):
 *   vocab.json   {"token": id, ...}: 50,257 entries for GPT-2. A token is a
 *                byte string written in GPT-2's byte-to-unicode alphabet: the
 *                188 printable bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF)
 *                stand for themselves, the other 68 bytes (controls, space,
 *                DEL, NBSP, soft hyphen) map to U+0100.. in byte order, so
 *                ' ' is "Ġ" (U+0120) and '\n' is "Ċ" (U+010A). JSON escapes
 *                (\u0120) decode to those code points first.
 *   merges.txt   "#version: 0.2", then one merge "A B" per line (both parts
 *                in the same alphabet); the merge on line k+2 has rank k.
 * Both are read as regular files of at most TS_MODEL_FILE_MAX (16 MiB), vocab.json
 * through ts_json_load_file; memory grows with the tokens and merges accepted,
 * never with a count the file merely claims.
 *
 * Encoding = pre-tokenize with the regex
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * (hand-compiled below, Unicode classes from utf8proc, \s as in JavaScript),
 * then BPE inside each piece: repeatedly merge the adjacent pair of lowest
 * rank until none is in the table.
 *
 * Invariants after load: ids are dense 0..n_vocab-1; byte_id[b] is the id of
 * the one-byte token b for all 256 bytes; every merge (a, b) -> c has all
 * three in the vocab; the pair table maps (a, b) to (rank, c).
 */
#include "internal.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <utf8proc.h>

/* ---- hash tables --------------------------------------------------------- */

static uint64_t hash_bytes(const unsigned char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint64_t hash_pair(uint64_t key)
{
    key *= 0x9E3779B97F4A7C15ull;
    return key ^ (key >> 31);
}

static size_t table_size_for(size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    return cap;
}

typedef struct merge_slot {
    uint64_t key;  /* (uint64_t)left << 32 | right; EMPTY_KEY when unused */
    int32_t rank;
    int32_t out;   /* id of the merged token */
} merge_slot;
#define EMPTY_KEY UINT64_MAX

struct ts_tokenizer {
    size_t n_vocab;
    unsigned char *bytes;  /* every token's bytes, back to back */
    size_t *tok_off;       /* [n_vocab + 1]: token i is bytes[tok_off[i] .. tok_off[i+1]) */
    int32_t *vocab_slots;  /* open addressing, token bytes -> id, -1 empty */
    size_t vocab_mask;
    merge_slot *merges;    /* open addressing, pair -> rank, merged id */
    size_t merge_mask;
    size_t n_merges;
    int32_t byte_id[256];  /* id of each one-byte token */
    int32_t eot;           /* "<|endoftext|>" or -1 */
    /* Every token is made by at most one merge whose parts were made by
     * lower-ranked merges (true of any trained BPE): then "merge the
     * leftmost lowest-ranked pair" equals encoder.py's "merge every
     * occurrence of the lowest pair in one pass", and a heap can be used. */
    bool ranks_consistent;
};

static int32_t vocab_find(const ts_tokenizer *tok, const unsigned char *p, size_t n)
{
    size_t i = (size_t)hash_bytes(p, n) & tok->vocab_mask;
    for (;;) {
        int32_t id = tok->vocab_slots[i];
        if (id < 0) return -1;
        size_t off = tok->tok_off[id], len = tok->tok_off[id + 1] - off;
        if (len == n && memcmp(tok->bytes + off, p, n) == 0) return id;
        i = (i + 1) & tok->vocab_mask;
    }
}

static const merge_slot *merge_find(const ts_tokenizer *tok, int32_t a, int32_t b)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t i = (size_t)hash_pair(key) & tok->merge_mask;
    for (;;) {
        const merge_slot *s = &tok->merges[i];
        if (s->key == key) return s;
        if (s->key == EMPTY_KEY) return NULL;
        i = (i + 1) & tok->merge_mask;
    }
}

/* ---- GPT-2's byte <-> unicode alphabet ----------------------------------- */

/* Code point -> byte for the 256 code points of the alphabet (all < 0x144). */
static void byte_alphabet(int16_t uni_to_byte[0x144], int32_t byte_to_uni[256])
{
    for (int i = 0; i < 0x144; i++) uni_to_byte[i] = -1;
    int n = 0;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        int32_t cp = printable ? b : 256 + n++;
        byte_to_uni[b] = cp;
        uni_to_byte[cp] = (int16_t)b;
    }
}

/*
 * Turn a token spelled in the alphabet (UTF-8 text) into raw bytes in out
 * (capacity >= n). Returns the byte count, or -1 with *bad_cp set to the
 * first code point outside the alphabet (-2 for invalid UTF-8).
 */
static long unalphabet(const int16_t *uni_to_byte, const char *s, size_t n, unsigned char *out,
                       int32_t *bad_cp)
{
    size_t i = 0, o = 0, seq;
    int32_t cp;
    while (i < n) {
        if (ts_utf8_classify((const unsigned char *)s + i, n - i, &seq, &cp) != TS_UTF8_COMPLETE) {
            *bad_cp = -2;
            return -1;
        }
        if (cp >= 0x144 || uni_to_byte[cp] < 0) {
            *bad_cp = cp;
            return -1;
        }
        out[o++] = (unsigned char)uni_to_byte[cp];
        i += seq;
    }
    return (long)o;
}

/* A short printable rendering of a token / line for messages (JSON-like escapes). */
static const char *show(const char *s, size_t n, char *buf, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= 40) {
            o += (size_t)snprintf(buf + o, size - o, "...");
            break;
        }
        if (c == '"' || c == '\\') o += (size_t)snprintf(buf + o, size - o, "\\%c", c);
        else if (c < 0x20 || c == 0x7F) o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        else buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return buf;
}

/* ---- loading ------------------------------------------------------------- */

void ts_tokenizer_free(ts_tokenizer *tok)
{
    if (!tok) return;
    free(tok->bytes);
    free(tok->tok_off);
    free(tok->vocab_slots);
    free(tok->merges);
    free(tok);
}

static ts_status load_vocab(ts_tokenizer *tok, const char *path, const int16_t *uni_to_byte,
                            const int32_t *byte_to_uni, char *err, size_t err_size)
{
    char sh[128];
    cJSON *root = NULL;
    ts_status st = ts_json_load_file(path, TS_MODEL_FILE_MAX, &root, err, err_size);
    if (st != TS_OK) return st;
    st = TS_ERR_FORMAT;
    const char **by_id = NULL; /* first token string seen for each id */
    if (!cJSON_IsObject(root)) {
        ts_errorf(err, err_size, st, "%s: expected a JSON object {\"token\": id, ...}", path);
        goto out;
    }
    size_t n = 0, total = 0;
    for (cJSON *it = root->child; it; it = it->next) {
        n++;
        total += strlen(it->string);
    }
    if (n == 0 || n > INT32_MAX - 1) {
        ts_errorf(err, err_size, st, "%s: the vocabulary has %zu tokens", path, n);
        goto out;
    }
    tok->n_vocab = n;
    tok->bytes = malloc(total + 1);
    tok->tok_off = calloc(n + 1, sizeof *tok->tok_off);
    size_t vcap = table_size_for(n);
    tok->vocab_slots = malloc(vcap * sizeof *tok->vocab_slots);
    tok->vocab_mask = vcap - 1;
    by_id = calloc(n, sizeof *by_id);
    size_t *lens = calloc(n, sizeof *lens), *starts = calloc(n, sizeof *starts);
    unsigned char *scratch = malloc(total + 1);
    if (!tok->bytes || !tok->tok_off || !tok->vocab_slots || !by_id || !lens || !starts ||
        !scratch) {
        free(lens), free(starts), free(scratch);
        st = ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    /* Pass 1: check every entry, convert its key to bytes (in file order). */
    size_t pos = 0;
    for (cJSON *it = root->child; it; it = it->next) {
        const char *key = it->string;
        size_t klen = strlen(key);
        if (!cJSON_IsNumber(it)) {
            ts_errorf(err, err_size, st, "%s: token \"%s\": id must be an integer, got %s", path,
                      show(key, klen, sh, sizeof sh),
                      cJSON_IsString(it)   ? "a string"
                      : cJSON_IsBool(it)   ? "a boolean"
                      : cJSON_IsNull(it)   ? "null"
                      : cJSON_IsArray(it)  ? "an array"
                                           : "an object");
            goto fail1;
        }
        double v = it->valuedouble;
        if (!(v >= 0 && v < (double)n)) {
            ts_errorf(err, err_size, st,
                      "%s: token \"%s\": id %g out of range: %zu tokens need ids 0..%zu", path,
                      show(key, klen, sh, sizeof sh), v, n, n - 1);
            goto fail1;
        }
        if ((double)(size_t)v != v) {
            ts_errorf(err, err_size, st, "%s: token \"%s\": id %g is not an integer", path,
                      show(key, klen, sh, sizeof sh), v);
            goto fail1;
        }
        size_t id = (size_t)v;
        if (by_id[id]) {
            char sh2[128];
            ts_errorf(err, err_size, st, "%s: id %zu is given to both \"%s\" and \"%s\"", path, id,
                      show(by_id[id], strlen(by_id[id]), sh2, sizeof sh2),
                      show(key, klen, sh, sizeof sh));
            goto fail1;
        }
        by_id[id] = key;
        if (klen == 0) {
            ts_errorf(err, err_size, st, "%s: id %zu: empty token string", path, id);
            goto fail1;
        }
        int32_t bad;
        long blen = unalphabet(uni_to_byte, key, klen, scratch + pos, &bad);
        if (blen < 0) {
            if (bad == -2)
                ts_errorf(err, err_size, st, "%s: token \"%s\" (id %zu) is not valid UTF-8", path,
                          show(key, klen, sh, sizeof sh), id);
            else
                ts_errorf(err, err_size, st,
                          "%s: token \"%s\" (id %zu) contains U+%04X, which is not in GPT-2's "
                          "byte-to-unicode alphabet",
                          path, show(key, klen, sh, sizeof sh), id, (unsigned)bad);
            goto fail1;
        }
        starts[id] = pos;
        lens[id] = (size_t)blen;
        pos += (size_t)blen;
    }
    /* Pass 2: lay the tokens out by id and index them. */
    size_t off = 0;
    for (size_t id = 0; id < n; id++) {
        memcpy(tok->bytes + off, scratch + starts[id], lens[id]);
        tok->tok_off[id] = off;
        off += lens[id];
    }
    tok->tok_off[n] = off;
    memset(tok->vocab_slots, 0xFF, vcap * sizeof *tok->vocab_slots);
    for (size_t id = 0; id < n; id++) {
        const unsigned char *p = tok->bytes + tok->tok_off[id];
        size_t m = lens[id];
        int32_t dup = vocab_find(tok, p, m);
        if (dup >= 0) {
            char sh2[128];
            ts_errorf(err, err_size, st,
                      "%s: \"%s\" (id %zu) and \"%s\" (id %d) are the same byte string", path,
                      show(by_id[id], strlen(by_id[id]), sh, sizeof sh), id,
                      show(by_id[dup], strlen(by_id[dup]), sh2, sizeof sh2), dup);
            goto fail1;
        }
        size_t i = (size_t)hash_bytes(p, m) & tok->vocab_mask;
        while (tok->vocab_slots[i] >= 0) i = (i + 1) & tok->vocab_mask;
        tok->vocab_slots[i] = (int32_t)id;
    }
    for (int b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        tok->byte_id[b] = vocab_find(tok, &c, 1);
        if (tok->byte_id[b] < 0) {
            char u[8];
            size_t ul = (size_t)utf8proc_encode_char(byte_to_uni[b], (utf8proc_uint8_t *)u);
            u[ul] = '\0';
            ts_errorf(err, err_size, st,
                      "%s: no token for byte 0x%02X (\"%s\"): byte-level BPE needs all 256", path,
                      b, u);
            goto fail1;
        }
    }
    tok->eot = vocab_find(tok, (const unsigned char *)"<|endoftext|>", 13);
    st = TS_OK;
fail1:
    free(lens), free(starts), free(scratch);
out:
    free(by_id);
    cJSON_Delete(root);
    return st;
}

/* Double the merge table (load stays <= 1/2); false when out of memory. */
static bool merges_grow(ts_tokenizer *tok, size_t *mcap)
{
    size_t ncap = *mcap * 2;
    merge_slot *nt = ncap > SIZE_MAX / sizeof *nt ? NULL : malloc(ncap * sizeof *nt);
    if (!nt) return false;
    for (size_t i = 0; i < ncap; i++) nt[i].key = EMPTY_KEY;
    for (size_t i = 0; i < *mcap; i++) {
        const merge_slot *m = &tok->merges[i];
        if (m->key == EMPTY_KEY) continue;
        size_t j = (size_t)hash_pair(m->key) & (ncap - 1);
        while (nt[j].key != EMPTY_KEY) j = (j + 1) & (ncap - 1);
        nt[j] = *m;
    }
    free(tok->merges);
    tok->merges = nt;
    tok->merge_mask = ncap - 1;
    *mcap = ncap;
    return true;
}

static ts_status load_merges(ts_tokenizer *tok, const char *path, const int16_t *uni_to_byte,
                             char *err, size_t err_size)
{
    char *data = NULL, sh[128];
    size_t len = 0;
    ts_status st = ts_read_file_max(path, TS_MODEL_FILE_MAX, &data, &len, err, err_size);
    if (st != TS_OK) return st;
    st = TS_ERR_FORMAT;
    /* The table grows with the merges actually accepted (each one checked
     * against the vocabulary), never with the file's line count: a file of
     * blank lines must not size it. */
    size_t mcap = table_size_for(tok->n_vocab < 1024 ? tok->n_vocab : 1024);
    tok->merges = malloc(mcap * sizeof *tok->merges);
    tok->merge_mask = mcap - 1;
    /* rank of the merge that made each token (-1: a single byte / not made) */
    int32_t *made_by = malloc(tok->n_vocab * sizeof *made_by);
    unsigned char *buf = malloc(len + 1);
    if (!tok->merges || !made_by || !buf) {
        st = ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    for (size_t i = 0; i < mcap; i++) tok->merges[i].key = EMPTY_KEY;
    for (size_t i = 0; i < tok->n_vocab; i++) made_by[i] = -1;
    tok->ranks_consistent = true;

    size_t line_no = 0, p = 0;
    int32_t rank = 0;
    while (p < len) {
        const char *line = data + p;
        const char *nl = memchr(line, '\n', len - p);
        size_t ll = nl ? (size_t)(nl - line) : len - p;
        p += ll + (nl ? 1 : 0);
        line_no++;
        if (ll > 0 && line[ll - 1] == '\r') ll--;
        if (line_no == 1 && ll >= 8 && memcmp(line, "#version", 8) == 0) continue;
        if (ll == 0) {
            /* Blank lines are allowed only at the end of the file. */
            size_t q = p;
            while (q < len && (data[q] == '\n' || data[q] == '\r')) q++;
            if (q == len) break;
            ts_errorf(err, err_size, st, "%s:%zu: empty line (expected \"A B\")", path, line_no);
            goto out;
        }
        const char *sp = memchr(line, ' ', ll);
        if (!sp || sp == line || sp == line + ll - 1 || memchr(sp + 1, ' ', ll - (size_t)(sp - line) - 1)) {
            ts_errorf(err, err_size, st,
                      "%s:%zu: expected two tokens separated by one space, got \"%s\"", path,
                      line_no, show(line, ll, sh, sizeof sh));
            goto out;
        }
        size_t la = (size_t)(sp - line), lb = ll - la - 1;
        int32_t ids[3], bad = 0;
        long na = unalphabet(uni_to_byte, line, la, buf, &bad);
        long nb = na < 0 ? -1 : unalphabet(uni_to_byte, sp + 1, lb, buf + na, &bad);
        if (na < 0 || nb < 0) {
            if (bad == -2)
                ts_errorf(err, err_size, st, "%s:%zu: \"%s\" is not valid UTF-8", path, line_no,
                          show(line, ll, sh, sizeof sh));
            else
                ts_errorf(err, err_size, st,
                          "%s:%zu: \"%s\" contains U+%04X, which is not in GPT-2's byte-to-unicode "
                          "alphabet",
                          path, line_no, show(line, ll, sh, sizeof sh), (unsigned)bad);
            goto out;
        }
        ids[0] = vocab_find(tok, buf, (size_t)na);
        ids[1] = vocab_find(tok, buf + na, (size_t)nb);
        ids[2] = vocab_find(tok, buf, (size_t)(na + nb));
        const char *what[3] = {"first part", "second part", "merged token"};
        const char *sp_[3] = {line, sp + 1, line};
        size_t sl[3] = {la, lb, ll};
        for (int k = 0; k < 3; k++) {
            if (ids[k] >= 0) continue;
            if (k == 2) {
                /* show the concatenation A+B without the space */
                char cat[256];
                size_t c1 = la < 120 ? la : 120, c2 = lb < 120 ? lb : 120;
                memcpy(cat, line, c1);
                memcpy(cat + c1, sp + 1, c2);
                ts_errorf(err, err_size, st,
                          "%s:%zu: merged token \"%s\" is not in the vocabulary (vocab.json and "
                          "merges.txt do not match)",
                          path, line_no, show(cat, c1 + c2, sh, sizeof sh));
            } else {
                ts_errorf(err, err_size, st,
                          "%s:%zu: %s \"%s\" is not in the vocabulary (vocab.json and merges.txt "
                          "do not match)",
                          path, line_no, what[k], show(sp_[k], sl[k], sh, sizeof sh));
            }
            goto out;
        }
        if (rank == INT32_MAX) {
            ts_errorf(err, err_size, st, "%s:%zu: too many merges", path, line_no);
            goto out;
        }
        if (2 * ((size_t)rank + 1) > mcap && !merges_grow(tok, &mcap)) {
            st = ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
        uint64_t key = (uint64_t)(uint32_t)ids[0] << 32 | (uint32_t)ids[1];
        size_t i = (size_t)hash_pair(key) & tok->merge_mask;
        while (tok->merges[i].key != EMPTY_KEY && tok->merges[i].key != key)
            i = (i + 1) & tok->merge_mask;
        if (tok->merges[i].key == key) {
            ts_errorf(err, err_size, st, "%s:%zu: duplicate merge \"%s\" (first at rank %d)", path,
                      line_no, show(line, ll, sh, sizeof sh), tok->merges[i].rank);
            goto out;
        }
        tok->merges[i] = (merge_slot){key, rank, ids[2]};
        if (made_by[ids[2]] >= 0) tok->ranks_consistent = false; /* made twice */
        else made_by[ids[2]] = rank;
        rank++;
    }
    tok->n_merges = (size_t)rank;
    /* A merge whose part is only made by a later merge breaks rank consistency. */
    for (size_t i = 0; i < mcap && tok->ranks_consistent; i++) {
        const merge_slot *m = &tok->merges[i];
        if (m->key == EMPTY_KEY) continue;
        if (made_by[m->key >> 32] > m->rank || made_by[m->key & 0xFFFFFFFFu] > m->rank)
            tok->ranks_consistent = false;
    }
    st = TS_OK;
out:
    free(made_by);
    free(buf);
    free(data);
    return st;
}

ts_status ts_tokenizer_load(const char *vocab_json_path, const char *merges_txt_path,
                            ts_tokenizer **out, char *err, size_t err_size)
{
    *out = NULL;
    if (!vocab_json_path || !merges_txt_path)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "tokenizer: NULL path");
    ts_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return ts_errorf(err, err_size, TS_ERR_NOMEM, "tokenizer: out of memory");
    int16_t uni_to_byte[0x144];
    int32_t byte_to_uni[256];
    byte_alphabet(uni_to_byte, byte_to_uni);
    ts_status st = load_vocab(tok, vocab_json_path, uni_to_byte, byte_to_uni, err, err_size);
    if (st == TS_OK) st = load_merges(tok, merges_txt_path, uni_to_byte, err, err_size);
    if (st != TS_OK) {
        ts_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return TS_OK;
}

size_t ts_tokenizer_vocab_size(const ts_tokenizer *tok) { return tok->n_vocab; }

int32_t ts_tokenizer_eot(const ts_tokenizer *tok) { return tok->eot; }

const char *ts_tokenizer_token_bytes(const ts_tokenizer *tok, int32_t id, size_t *len)
{
    if (id < 0 || (size_t)id >= tok->n_vocab) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = tok->tok_off[id + 1] - tok->tok_off[id];
    return (const char *)tok->bytes + tok->tok_off[id];
}

ts_status ts_tokenizer_decode(const ts_tokenizer *tok, const int32_t *ids, size_t n, char *out,
                              size_t cap, size_t *len)
{
    size_t o = 0;
    ts_status st = TS_OK;
    for (size_t i = 0; i < n; i++) {
        size_t m;
        const char *p = ts_tokenizer_token_bytes(tok, ids[i], &m);
        if (!p) {
            st = TS_ERR_INVALID;
            continue;
        }
        if (o + m <= cap) memcpy(out + o, p, m);
        o += m;
    }
    *len = o;
    if (st == TS_OK && o > cap) st = TS_ERR_RANGE;
    return st;
}

/* ---- pre-tokenizer ------------------------------------------------------- */

enum { C_OTHER = 0, C_LETTER = 1, C_NUMBER = 2, C_SPACE = 3 };

/*
 * \s as JavaScript defines it (the oracle, gpt-3-encoder, is a JS /u regex):
 * WhiteSpace (TAB, VT, FF, U+FEFF, every Zs) and LineTerminator (LF, CR,
 * U+2028, U+2029). Python's `regex` \s differs: it adds U+0085 and
 * U+001C..U+001F and lacks U+FEFF (see docs/tokenizer.md).
 */
static int char_class(int32_t cp)
{
    if (cp < 0) return C_OTHER; /* invalid UTF-8 byte */
    if (cp == 0x09 || cp == 0x0A || cp == 0x0B || cp == 0x0C || cp == 0x0D || cp == 0xFEFF ||
        cp == 0x2028 || cp == 0x2029)
        return C_SPACE;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: return C_LETTER;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO: return C_NUMBER;
    case UTF8PROC_CATEGORY_ZS: return C_SPACE;
    default: return C_OTHER;
    }
}

static inline int ascii_class(unsigned c)
{
    if ((c | 32) - 'a' < 26) return C_LETTER;
    if (c - '0' < 10) return C_NUMBER;
    if (c == ' ' || (c >= 9 && c <= 13)) return C_SPACE;
    return C_OTHER;
}

/* The character at s[i]: its class, and its length in bytes. An invalid byte
 * sequence is a run of "other" (its maximal subpart, 1..3 bytes). */
static inline int unit_at(const unsigned char *s, size_t len, size_t i, size_t *n, int32_t *cp)
{
    if (s[i] < 0x80) {
        *n = 1;
        *cp = s[i];
        return ascii_class(s[i]);
    }
    ts_utf8_scan r = ts_utf8_classify(s + i, len - i, n, cp);
    if (r != TS_UTF8_COMPLETE) {
        *cp = -1;
        return C_OTHER;
    }
    return char_class(*cp);
}

/* Length in bytes of the pre-tokenizer's next piece starting at s[i] < len. */
static size_t next_piece(const unsigned char *s, size_t len, size_t i)
{
    /* 's|'t|'re|'ve|'m|'ll|'d  (case-sensitive, ASCII) */
    if (s[i] == '\'' && i + 1 < len) {
        unsigned char c = s[i + 1];
        if (c == 's' || c == 't' || c == 'm' || c == 'd') return 2;
        if (i + 2 < len && ((c == 'r' && s[i + 2] == 'e') || (c == 'v' && s[i + 2] == 'e') ||
                            (c == 'l' && s[i + 2] == 'l')))
            return 3;
    }
    size_t n, j = i;
    int32_t cp;
    int cls = unit_at(s, len, i, &n, &cp);
    /*  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+  */
    if (cp == ' ' && i + 1 < len) {
        size_t n2;
        int32_t cp2;
        int cls2 = unit_at(s, len, i + 1, &n2, &cp2);
        if (cls2 != C_SPACE) {
            cls = cls2;
            j = i + 1;
            n = n2;
        }
    }
    if (cls != C_SPACE) {
        j += n;
        while (j < len && unit_at(s, len, j, &n, &cp) == cls) j += n;
        return j - i;
    }
    /* \s+(?!\S) | \s+ : the greedy run, giving back its last character when
     * a non-space follows (so " word" keeps its space) unless that would
     * leave nothing. */
    size_t last = i;
    j = i + n;
    while (j < len && unit_at(s, len, j, &n, &cp) == C_SPACE) {
        last = j;
        j += n;
    }
    if (j < len && last > i) return last - i;
    return j - i;
}

/* ---- BPE ----------------------------------------------------------------- */

typedef struct emitter {
    int32_t *ids;
    size_t cap;
    size_t n;
} emitter;

static inline void emit(emitter *e, int32_t id)
{
    if (e->n < e->cap) e->ids[e->n] = id;
    e->n++;
}

typedef struct scratch {
    int32_t *sym;     /* [cap] token id of each symbol, -1 once merged away */
    uint32_t *next;   /* [cap] index of the next live symbol, UINT32_MAX at the end */
    uint32_t *prev;   /* [cap] index of the previous live symbol, UINT32_MAX at start */
    uint64_t *heap;   /* [3 cap] (rank << 32 | left index), min-heap */
    size_t cap;
} scratch;

static bool scratch_reserve(scratch *sc, size_t n)
{
    if (n <= sc->cap) return true;
    size_t cap = sc->cap ? sc->cap : 64;
    while (cap < n) cap *= 2;
    if (cap > UINT32_MAX / 4) return false;
    int32_t *sym = realloc(sc->sym, cap * sizeof *sym);
    if (sym) sc->sym = sym;
    uint32_t *next = realloc(sc->next, cap * sizeof *next);
    if (next) sc->next = next;
    uint32_t *prev = realloc(sc->prev, cap * sizeof *prev);
    if (prev) sc->prev = prev;
    uint64_t *heap = realloc(sc->heap, 3 * cap * sizeof *heap);
    if (heap) sc->heap = heap;
    if (!sym || !next || !prev || !heap) return false;
    sc->cap = cap;
    return true;
}

static void scratch_free(scratch *sc)
{
    free(sc->sym), free(sc->next), free(sc->prev), free(sc->heap);
}

static void heap_push(uint64_t *h, size_t *n, uint64_t v)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n)
{
    uint64_t top = h[0], v = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1] < h[c]) c++;
        if (v <= h[c]) break;
        h[i] = h[c];
        i = c;
    }
    if (m > 0) h[i] = v;
    return top;
}

/*
 * encoder.py's loop, verbatim in meaning: find the lowest-ranked adjacent
 * pair, merge every non-overlapping occurrence left to right, repeat.
 * O(n^2) per piece; used for short pieces (and for merge tables that are
 * not rank-consistent).
 */
static size_t bpe_classic(const ts_tokenizer *tok, int32_t *sym, size_t n)
{
    while (n > 1) {
        int32_t best = INT32_MAX, a = -1, b = -1, out = -1;
        for (size_t i = 0; i + 1 < n; i++) {
            const merge_slot *m = merge_find(tok, sym[i], sym[i + 1]);
            if (m && m->rank < best) {
                best = m->rank;
                a = sym[i], b = sym[i + 1], out = m->out;
            }
        }
        if (best == INT32_MAX) break;
        size_t w = 0;
        for (size_t i = 0; i < n;) {
            if (i + 1 < n && sym[i] == a && sym[i + 1] == b) {
                sym[w++] = out;
                i += 2;
            } else {
                sym[w++] = sym[i++];
            }
        }
        n = w;
    }
    return n;
}

/* Same result as bpe_classic for rank-consistent merges, in O(n log n):
 * a heap of candidate pairs keyed (rank, left position); stale entries are
 * recognised on pop because the pair there no longer has that rank. */
static void bpe_heap(const ts_tokenizer *tok, scratch *sc, size_t n, emitter *e)
{
    int32_t *sym = sc->sym;
    uint32_t *next = sc->next, *prev = sc->prev;
    uint64_t *heap = sc->heap;
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        next[i] = i + 1 < n ? (uint32_t)(i + 1) : UINT32_MAX;
        prev[i] = i > 0 ? (uint32_t)(i - 1) : UINT32_MAX;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        const merge_slot *m = merge_find(tok, sym[i], sym[i + 1]);
        if (m) heap_push(heap, &hn, (uint64_t)(uint32_t)m->rank << 32 | i);
    }
    while (hn > 0) {
        uint64_t top = heap_pop(heap, &hn);
        uint32_t i = (uint32_t)top, rank = (uint32_t)(top >> 32);
        if (sym[i] < 0) continue;
        uint32_t j = next[i];
        if (j == UINT32_MAX) continue;
        const merge_slot *m = merge_find(tok, sym[i], sym[j]);
        if (!m || (uint32_t)m->rank != rank) continue;
        sym[i] = m->out;
        sym[j] = -1;
        next[i] = next[j];
        if (next[j] != UINT32_MAX) prev[next[j]] = i;
        if (prev[i] != UINT32_MAX) {
            const merge_slot *l = merge_find(tok, sym[prev[i]], sym[i]);
            if (l) heap_push(heap, &hn, (uint64_t)(uint32_t)l->rank << 32 | prev[i]);
        }
        if (next[i] != UINT32_MAX) {
            const merge_slot *r = merge_find(tok, sym[i], sym[next[i]]);
            if (r) heap_push(heap, &hn, (uint64_t)(uint32_t)r->rank << 32 | i);
        }
    }
    for (uint32_t i = 0; i != UINT32_MAX; i = next[i]) emit(e, sym[i]);
}

#define BPE_SMALL 24 /* pieces up to this many bytes use the classic loop */

static bool bpe_piece(const ts_tokenizer *tok, const unsigned char *p, size_t n, scratch *sc,
                      emitter *e)
{
    if (n == 1) {
        emit(e, tok->byte_id[p[0]]);
        return true;
    }
    if (!scratch_reserve(sc, n)) return false;
    for (size_t i = 0; i < n; i++) sc->sym[i] = tok->byte_id[p[i]];
    if (n <= BPE_SMALL || !tok->ranks_consistent) {
        size_t m = bpe_classic(tok, sc->sym, n);
        for (size_t i = 0; i < m; i++) emit(e, sc->sym[i]);
    } else {
        bpe_heap(tok, sc, n, e);
    }
    return true;
}

static bool encode_plain(const ts_tokenizer *tok, const unsigned char *s, size_t len,
                         scratch *sc, emitter *e)
{
    for (size_t i = 0; i < len;) {
        size_t n = next_piece(s, len, i);
        if (!bpe_piece(tok, s + i, n, sc, e)) return false;
        i += n;
    }
    return true;
}

/* First occurrence of needle in s[0..n), or NULL (memmem is a GNU extension). */
static const unsigned char *find_eot(const unsigned char *s, size_t n, const char *needle,
                                     size_t m)
{
    for (size_t i = 0; i + m <= n;) {
        const unsigned char *lt = memchr(s + i, needle[0], n - m + 1 - i);
        if (!lt) return NULL;
        if (memcmp(lt, needle, m) == 0) return lt;
        i = (size_t)(lt - s) + 1;
    }
    return NULL;
}

ts_status ts_tokenizer_encode(const ts_tokenizer *tok, const char *text, size_t len,
                              unsigned flags, int32_t *ids, size_t cap, size_t *n_ids)
{
    static const char EOT[] = "<|endoftext|>";
    emitter e = {ids, ids ? cap : 0, 0};
    scratch sc = {0};
    const unsigned char *s = (const unsigned char *)text;
    bool ok = true;
    if ((flags & TS_ENCODE_ALLOW_SPECIAL) && tok->eot >= 0) {
        size_t i = 0;
        while (ok && i < len) {
            const unsigned char *hit = find_eot(s + i, len - i, EOT, sizeof EOT - 1);
            size_t end = hit ? (size_t)(hit - s) : len;
            ok = encode_plain(tok, s + i, end - i, &sc, &e);
            if (hit) {
                emit(&e, tok->eot);
                end += sizeof EOT - 1;
            }
            i = end;
        }
    } else {
        ok = encode_plain(tok, s, len, &sc, &e);
    }
    scratch_free(&sc);
    *n_ids = e.n;
    if (!ok) return TS_ERR_NOMEM;
    return e.n > e.cap ? TS_ERR_RANGE : TS_OK;
}

/*
 * cmd_tokenize.c — `tempscale tokenize`: text (argument, file or stdin, any
 * bytes) to GPT-2 token ids and pieces, with a decode round-trip check.
 * Loads only the tokenizer (DIR/vocab.json + DIR/merges.txt), never weights.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: tempscale tokenize [--model DIR] [--json] [--special] [--file PATH | TEXT...]\n"
            "\n"
            "Split text into GPT-2 byte-level BPE tokens, exactly as OpenAI's encoder (and\n"
            "Hugging Face's GPT2Tokenizer) do, and show each token's id and piece. Any bytes\n"
            "are accepted (NUL, invalid UTF-8): byte-level BPE can encode every byte string,\n"
            "and decoding the ids gives the input back byte for byte (checked and printed).\n"
            "\n"
            "Input (one of):\n"
            "  TEXT...            the text; several arguments are joined with one space\n"
            "  --file PATH        read PATH as raw bytes ('-' = standard input)\n"
            "  (nothing)          read standard input when it is not a terminal\n"
            "\n"
            "Options:\n"
            "  --model DIR        directory with vocab.json and merges.txt, or a model name\n"
            "                     (default: the bundled tiny-shakespeare model, GPT-2's vocabulary)\n"
            "  --special          treat the literal <|endoftext|> as the special token 50256\n"
            "                     (default: it is plain text, split like any other)\n"
            "  --json             print {\"ids\":[...],\"tokens\":[...],\"vocab_size\":N}. Each\n"
            "                     token is decoded on its own as UTF-8 with errors=\"replace\":\n"
            "                     a token holding part of a multi-byte character (emoji, CJK)\n"
            "                     shows U+FFFD there, as HF's tokenizer.decode([id]) does; the\n"
            "                     ids themselves always decode back to the exact input\n"
            "  -h, --help         this help\n"
            "\n"
            "In the table, a space shows as \xe2\x90\xa3, a newline as \xe2\x86\xb5, a tab as "
            "\xe2\x86\x92, and other control\n"
            "bytes or bytes that are not complete UTF-8 in that token as \\xNN.\n"
            "\n"
            "Examples:\n"
            "  tempscale tokenize \"In the future, AI will\"\n"
            "      Input IDs: [818, 262, 2003, 11, 9552, 481]\n"
            "  tempscale tokenize --json --model ~/models/gpt2 --file prompt.txt\n"
            "  echo 'Hello world' | tempscale tokenize      (the trailing newline is a token)\n");
}

/* Read all of f into a malloc'd buffer. false (errno set) on a read error. */
static bool read_all(FILE *f, char **data, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) return false;
    for (;;) {
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return false;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        free(buf);
        return false;
    }
    *data = buf;
    *len = n;
    return true;
}

/* Append s[0..n) (valid UTF-8) to a growing buffer as a JSON string literal. */
static void sb_json_string(ts_cli_buf *b, const char *s, size_t n)
{
    ts_cli_buf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            ts_cli_buf_put(b, esc, 2);
        } else if (c == '\n') {
            ts_cli_buf_put(b, "\\n", 2);
        } else if (c == '\t') {
            ts_cli_buf_put(b, "\\t", 2);
        } else if (c == '\r') {
            ts_cli_buf_put(b, "\\r", 2);
        } else if (c < 0x20 || c == 0x7f) { /* includes NUL, which cJSON strings cannot hold */
            snprintf(esc, sizeof esc, "\\u%04x", c);
            ts_cli_buf_put(b, esc, 6);
        } else {
            ts_cli_buf_put(b, (const char *)&s[i], 1);
        }
    }
    ts_cli_buf_put(b, "\"", 1);
}

static int print_json(const ts_tokenizer *tok, const int32_t *ids, size_t n)
{
    cJSON *o = cJSON_CreateObject(), *jids = cJSON_AddArrayToObject(o, "ids"),
          *jtok = cJSON_AddArrayToObject(o, "tokens");
    ts_cli_buf b = {0};
    char piece[TS_UTF8_STREAM_OUT_MAX(256)];
    bool ok = o && jids && jtok;
    for (size_t i = 0; ok && i < n; i++) {
        size_t len;
        const char *bytes = ts_tokenizer_token_bytes(tok, ids[i], &len);
        ts_utf8_stream st = {{0}, 0};
        size_t w = 0;
        /* tokens are short (GPT-2's longest is 128 bytes); decode in slices anyway */
        b.n = 0;
        ts_cli_buf_put(&b, "", 0);
        for (size_t off = 0; off < len; off += 256) {
            size_t k = len - off < 256 ? len - off : 256;
            size_t got = ts_utf8_stream_push(&st, bytes + off, k, piece);
            ts_cli_buf_put(&b, piece, got);
            w += got;
        }
        w = ts_utf8_stream_flush(&st, piece);
        ts_cli_buf_put(&b, piece, w);
        /* the decoded piece is valid UTF-8 now; escape it ourselves so NUL survives */
        ts_cli_buf lit = {0};
        sb_json_string(&lit, b.p ? b.p : "", b.n);
        cJSON *raw = lit.oom ? NULL : cJSON_CreateRaw(lit.p);
        free(lit.p);
        cJSON *num = cJSON_CreateNumber(ids[i]);
        ok = raw && num && !b.oom;
        if (raw) cJSON_AddItemToArray(jtok, raw);
        if (num) cJSON_AddItemToArray(jids, num);
    }
    free(b.p);
    if (ok) ok = cJSON_AddNumberToObject(o, "vocab_size", (double)ts_tokenizer_vocab_size(tok));
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) {
        ts_cli_error("tokenize: out of memory");
        return TS_EXIT_FAIL;
    }
    puts(s);
    free(s);
    return TS_EXIT_OK;
}

static int print_text(const ts_tokenizer *tok, const int32_t *ids, size_t n, const char *text,
                      size_t len)
{
    printf("Input IDs: [");
    for (size_t i = 0; i < n; i++) printf("%s%d", i ? ", " : "", ids[i]);
    printf("]\nVocabulary size: %zu\nTokens: %zu for %zu bytes\n\n", ts_tokenizer_vocab_size(tok),
           n, len);
    ts_table *t = ts_table_new(NULL);
    if (!t) return ts_cli_error("tokenize: out of memory"), TS_EXIT_FAIL;
    ts_table_column(t, "#", TS_ALIGN_RIGHT);
    ts_table_column(t, "id", TS_ALIGN_RIGHT);
    ts_table_column(t, "piece", TS_ALIGN_LEFT);
    ts_table_column(t, "bytes", TS_ALIGN_RIGHT);
    ts_table_emphasize_column(t, 2);
    char piece[1024];
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t tl;
        const char *tb = ts_tokenizer_token_bytes(tok, ids[i], &tl);
        ts_table_row(t);
        ts_table_cell(t, "%zu", i);
        ts_table_cell(t, "%d", ids[i]);
        ts_table_cell(t, "%s", ts_cli_token_printable(tb, tl, TS_TOKEN_VISIBLE, piece, sizeof piece));
        ts_table_cell(t, "%zu", tl);
        total += tl;
    }
    bool ok = n == 0 || ts_table_print(t, stdout);
    ts_table_free(t);
    if (!ok) return ts_cli_error("tokenize: cannot print the table"), TS_EXIT_FAIL;
    /* Round trip: the concatenated token bytes must be the input. */
    char *back = malloc(total + 1);
    size_t bl = 0;
    bool same = back && ts_tokenizer_decode(tok, ids, n, back, total, &bl) == TS_OK &&
                bl == len && memcmp(back, text, len) == 0;
    free(back);
    printf("%sRound trip: decode(ids) %s the input (%zu bytes)\n", n ? "\n" : "",
           same ? "==" : "!=", len);
    return same ? TS_EXIT_OK : TS_EXIT_FAIL;
}

int ts_cmd_tokenize(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"file", required_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"special", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model = NULL, *file = NULL;
    bool json = false, special = false;
    optind = 0;
    opterr = 0; /* ts_cli_bad_option's one line instead */
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'f': file = optarg; break;
        case 'j': json = true; break;
        case 's': special = true; break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default: return ts_cli_bad_option("tokenize", argv);
        }
    }
    if (file && optind < argc)
        return ts_cli_error("tokenize: give either --file PATH or TEXT, not both");

    /* The input, as raw bytes. */
    char *text = NULL;
    size_t len = 0;
    if (file && strcmp(file, "-") != 0) {
        FILE *f = fopen(file, "rb");
        if (!f) return ts_cli_error("tokenize: --file %s: %s", file, strerror(errno));
        bool ok = read_all(f, &text, &len);
        int e = errno;
        fclose(f);
        if (!ok) return ts_cli_error("tokenize: --file %s: cannot read: %s", file, strerror(e));
    } else if (file || optind == argc) {
        if (!file && isatty(STDIN_FILENO))
            return ts_cli_error("tokenize: no text (give TEXT, --file PATH, or pipe text on "
                                "stdin; see 'tempscale help tokenize')");
        if (!read_all(stdin, &text, &len))
            return ts_cli_error("tokenize: cannot read standard input: %s", strerror(errno));
    } else {
        size_t total = 0;
        for (int i = optind; i < argc; i++) total += strlen(argv[i]) + 1;
        text = malloc(total);
        if (!text) return ts_cli_error("tokenize: out of memory"), TS_EXIT_FAIL;
        for (int i = optind; i < argc; i++) {
            size_t l = strlen(argv[i]);
            if (i > optind) text[len++] = ' ';
            memcpy(text + len, argv[i], l);
            len += l;
        }
    }

    /* Only the tokenizer: no weights are opened. */
    char dir[4096], vocab[4200], merges[4200], err[TS_ERR_SIZE] = "";
    if (!ts_cli_resolve_model(model, dir, sizeof dir)) {
        free(text);
        return TS_EXIT_USAGE;
    }
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    snprintf(merges, sizeof merges, "%s/merges.txt", dir);
    ts_tokenizer *tok = NULL;
    ts_status st = ts_tokenizer_load(vocab, merges, &tok, err, sizeof err);
    if (st != TS_OK) {
        free(text);
        return ts_cli_error("tokenize: %s", err[0] ? err : ts_status_str(st));
    }

    unsigned flags = special ? TS_ENCODE_ALLOW_SPECIAL : 0;
    size_t n = 0;
    int32_t *ids = NULL;
    st = ts_tokenizer_encode(tok, text, len, flags, NULL, 0, &n);
    if (st == TS_OK || st == TS_ERR_RANGE) {
        ids = malloc((n ? n : 1) * sizeof *ids);
        st = ids ? ts_tokenizer_encode(tok, text, len, flags, ids, n, &n) : TS_ERR_NOMEM;
    }
    int rc;
    if (st != TS_OK) {
        ts_cli_error("tokenize: %s", ts_status_str(st));
        rc = TS_EXIT_FAIL;
    } else {
        rc = json ? print_json(tok, ids, n) : print_text(tok, ids, n, text, len);
    }
    free(ids);
    free(text);
    ts_tokenizer_free(tok);
    return rc;
}

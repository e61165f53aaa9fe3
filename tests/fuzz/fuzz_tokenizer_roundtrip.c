/*
 * fuzz_tokenizer_roundtrip.c — GPT-2's real tokenizer (the bundled model's
 * vocab.json / merges.txt, or $TS_GPT2_TOKENIZER) on arbitrary bytes: encode
 * then decode gives the input back exactly, ids are in range, and the count
 * asked with cap 0 equals the count encoded.
 */
#include "fuzz.h"

static ts_tokenizer *g_tok;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *dir = getenv("TS_GPT2_TOKENIZER");
    if (!dir) dir = TS_SOURCE_DIR "/models/tiny-shakespeare";
    char vocab[1024], merges[1024], err[TS_ERR_SIZE];
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    snprintf(merges, sizeof merges, "%s/merges.txt", dir);
    if (ts_tokenizer_load(vocab, merges, &g_tok, err, sizeof err) != TS_OK) {
        fprintf(stderr, "fuzz_tokenizer_roundtrip: %s\n", err);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    unsigned flags = size > 0 && (data[0] & 1) ? TS_ENCODE_ALLOW_SPECIAL : 0;
    size_t need = 0;
    ts_status s = ts_tokenizer_encode(g_tok, text, size, flags, NULL, 0, &need);
    FUZZ_CHECK(s == TS_OK || (s == TS_ERR_RANGE && need > 0));
    FUZZ_CHECK(need <= size);
    int32_t *ids = malloc((need ? need : 1) * sizeof *ids);
    char *back = malloc(size ? size : 1);
    FUZZ_CHECK(ids && back);
    size_t n = 0, len = 0;
    FUZZ_CHECK(ts_tokenizer_encode(g_tok, text, size, flags, ids, need, &n) == TS_OK);
    FUZZ_CHECK(n == need);
    size_t V = ts_tokenizer_vocab_size(g_tok);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(ids[i] >= 0 && (size_t)ids[i] < V);
    FUZZ_CHECK(ts_tokenizer_decode(g_tok, ids, n, back, size, &len) == TS_OK);
    FUZZ_CHECK(len == size && memcmp(back, text, size) == 0);
    free(ids);
    free(back);
    return 0;
}

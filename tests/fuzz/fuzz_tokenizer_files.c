/*
 * fuzz_tokenizer_files.c — vocab.json and merges.txt (src/text/tokenizer.c).
 * Input: vocab.json, a NUL byte, merges.txt. A tokenizer that loads must
 * round-trip a text holding every byte value: byte-level BPE is lossless.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n1, n2;
    const uint8_t *rest;
    fuzz_split(data, size, &n1, &rest, &n2);
    const char *vocab = fuzz_file("tok/vocab.json", data, n1);
    const char *merges = fuzz_file("tok/merges.txt", rest, n2);
    ts_tokenizer *tok = NULL;
    char err[TS_ERR_SIZE] = "";
    if (ts_tokenizer_load(vocab, merges, &tok, err, sizeof err) != TS_OK) {
        FUZZ_CHECK(tok == NULL);
        fuzz_check_message(err);
        return 0;
    }
    static const char tail[] = " the <|endoftext|> th\xc3\xa9\xe2\x82"; /* ends mid-character */
    char text[256 + sizeof tail];
    for (int i = 0; i < 256; i++)
        text[i] = (char)i;
    memcpy(text + 256, tail, sizeof tail - 1);
    size_t len = 256 + sizeof tail - 1, n_ids = 0, out_len = 0;
    int32_t ids[300];
    char back[300];
    FUZZ_CHECK(ts_tokenizer_encode(tok, text, len, 0, ids, 300, &n_ids) == TS_OK);
    FUZZ_CHECK(ts_tokenizer_decode(tok, ids, n_ids, back, sizeof back, &out_len) == TS_OK);
    FUZZ_CHECK(out_len == len && memcmp(back, text, len) == 0);
    ts_tokenizer_free(tok);
    return 0;
}

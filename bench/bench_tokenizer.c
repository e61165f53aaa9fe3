/*
 * bench_tokenizer.c — GPT-2 tokenizer throughput: load time, encode MB/s and
 * tokens/s, decode tokens/s. Median of repeated runs.
 *
 * Usage: bench_tokenizer [TEXT_FILE [TOKENIZER_DIR [RUNS]]]
 *   defaults: ../shared/data/tinyshakespeare.txt, ../shared/gpt2-tokenizer, 7
 */
#include "internal.h"

#include <string.h>
#include <time.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *text_path = argc > 1 ? argv[1] : "../shared/data/tinyshakespeare.txt";
    const char *dir = argc > 2 ? argv[2] : "../shared/gpt2-tokenizer";
    int runs = argc > 3 ? atoi(argv[3]) : 7;
    if (runs < 1 || runs > 100) runs = 7;
    char vocab[4096], merges[4096], err[TS_ERR_SIZE];
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    snprintf(merges, sizeof merges, "%s/merges.txt", dir);
    char *text;
    size_t len;
    if (ts_read_file(text_path, &text, &len, err, sizeof err) != TS_OK) {
        fprintf(stderr, "bench_tokenizer: %s\n", err);
        return 1;
    }
    double t_load[100], t_enc[100], t_dec[100];
    ts_tokenizer *tok = NULL;
    for (int r = 0; r < runs; r++) {
        ts_tokenizer_free(tok);
        double t0 = ts_seconds();
        if (ts_tokenizer_load(vocab, merges, &tok, err, sizeof err) != TS_OK) {
            fprintf(stderr, "bench_tokenizer: %s\n", err);
            return 1;
        }
        t_load[r] = ts_seconds() - t0;
    }
    size_t n = 0;
    ts_tokenizer_encode(tok, text, len, 0, NULL, 0, &n);
    int32_t *ids = malloc(n * sizeof *ids);
    char *back = malloc(len + 1);
    for (int r = 0; r < runs; r++) {
        double t0 = ts_seconds();
        ts_tokenizer_encode(tok, text, len, 0, ids, n, &n);
        t_enc[r] = ts_seconds() - t0;
        t0 = ts_seconds();
        size_t bl;
        ts_tokenizer_decode(tok, ids, n, back, len, &bl);
        t_dec[r] = ts_seconds() - t0;
        if (bl != len || memcmp(back, text, len) != 0) {
            fprintf(stderr, "bench_tokenizer: round trip failed\n");
            return 1;
        }
    }
    qsort(t_load, (size_t)runs, sizeof(double), cmp_double);
    qsort(t_enc, (size_t)runs, sizeof(double), cmp_double);
    qsort(t_dec, (size_t)runs, sizeof(double), cmp_double);
    double te = t_enc[runs / 2], td = t_dec[runs / 2];
    printf("text          %s (%zu bytes, %zu tokens, %.3f bytes/token)\n", text_path, len, n,
           (double)len / (double)n);
    printf("load          %.1f ms (vocab.json + merges.txt, median of %d)\n",
           1e3 * t_load[runs / 2], runs);
    printf("encode        %.1f ms  %.2f MB/s  %.0f tokens/s (median of %d)\n", 1e3 * te,
           (double)len / te / 1e6, (double)n / te, runs);
    printf("decode        %.2f ms  %.0f tokens/s\n", 1e3 * td, (double)n / td);
    free(ids);
    free(back);
    free(text);
    ts_tokenizer_free(tok);
    return 0;
}

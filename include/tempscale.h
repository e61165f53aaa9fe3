/*
 * tempscale.h — the one public header of libtempscale.
 *
 * tempscale shows, chooses and fits the temperature of a language model:
 *   - numeric core: temperature softmax / log-softmax, entropy, KL, truncation
 *     (top-k, top-p, min-p) and a sampler chain with an explicit order;
 *   - engine: GPT-2-family checkpoints in Hugging Face layout (safetensors,
 *     config.json, vocab.json, merges.txt), exact GPT-2 byte-level BPE, and a
 *     CPU forward pass with a KV cache;
 *   - calibration: one scalar temperature fitted by NLL (Guo et al. 2017),
 *     ECE / MCE / adaptive ECE / Brier, reliability bins;
 *   - plots (cairo: PNG, SVG, PDF) and the Hugging Face hub cache.
 *
 * Conventions (see docs/ and ../shared/STYLE.md):
 *   - Functions that can fail return ts_status (0 ok, negative error). Those
 *     that can fail for reasons a user must read take `char *err, size_t
 *     err_size`: on failure a one-line message naming the file / field is
 *     written there (err may be NULL). There is no global error state.
 *   - Who creates frees. Every ts_x_free(NULL) is a no-op.
 *   - Logits are never modified: every input array is const.
 *   - Numeric functions do no I/O and no allocation unless they say so.
 */
#ifndef TEMPSCALE_H
#define TEMPSCALE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_VERSION "0.1.0"

/* Suggested size of the caller-provided error buffers. */
#define TS_ERR_SIZE 512

typedef enum ts_status {
    TS_OK = 0,
    TS_ERR_INVALID = -1,     /* bad argument (NaN / negative temperature ...) */
    TS_ERR_IO = -2,          /* file missing, unreadable or unwritable */
    TS_ERR_FORMAT = -3,      /* malformed file: JSON, safetensors, CSV, npy */
    TS_ERR_NOMEM = -4,       /* allocation failed or size overflow */
    TS_ERR_RANGE = -5,       /* too long for the context, buffer too small */
    TS_ERR_UNSUPPORTED = -6, /* valid but not handled (dtype, activation) */
    TS_ERR_NOT_FOUND = -7,   /* model / revision / file not found */
    TS_ERR_NETWORK = -8,     /* connection failed */
    TS_ERR_AUTH = -9,        /* 401 / 403 */
    TS_ERR_BUSY = -10,       /* every context is busy and the queue is full */
} ts_status;

/* Static English name of a status ("invalid argument", ...). Never NULL. */
const char *ts_status_str(ts_status s);

/* ======================================================================== */
/* Files (src/core/status.c)                                                */
/* ======================================================================== */
/*
 * Read a whole regular file (at most 1 GiB; a FIFO, a device or a directory is
 * refused before it is opened) into a NUL-terminated malloc'd buffer (caller
 * frees); *len gets the size without the NUL. The message names the path.
 */
ts_status ts_read_file(const char *path, char **data, size_t *len, char *err, size_t err_size);

/* Seconds on the monotonic clock (CLOCK_MONOTONIC; any origin): for timing and deadlines. */
double ts_seconds(void);

/*
 * Write len bytes to path atomically: a temp file beside it, then rename, so
 * a failed write never leaves a partial file (or any temp file) behind.
 */
ts_status ts_write_file_atomic(const char *path, const void *data, size_t len, char *err,
                               size_t err_size);

/*
 * Decode bytes as UTF-8 exactly like CPython's bytes.decode("utf-8",
 * "replace") (one U+FFFD per maximal ill-formed subpart). out must hold
 * TS_UTF8_STREAM_OUT_MAX(len) bytes; returns the bytes written (no NUL).
 * The one replacement rule of the project (tokens shown in JSON, HTML).
 */
size_t ts_utf8_replace(const char *bytes, size_t len, char *out);

/*
 * Write data (row-major, prod(shape) floats, ndim <= 8) as a version 1.0
 * '<f4' .npy file that np.load reads; the header is padded to a 64-byte
 * boundary as numpy does. Atomic: a failed write leaves no file at path.
 * (src/calib/npy.c)
 */
ts_status ts_npy_write_f32(const char *path, const float *data, int32_t ndim, const size_t *shape,
                           char *err, size_t err_size);

/* ======================================================================== */
/* Temperature math (src/core/softmax.c, src/core/stats.c)                            */
/* ======================================================================== */
/*
 * softmax(z/T) over n logits, max-subtracted, accumulated in double.
 *   T = 1     unchanged distribution
 *   T = 0     one-hot on the argmax (first maximum on ties)
 *   T = +inf  uniform over the tokens whose logit is not -inf
 *   -inf logits are allowed (masked tokens) and get probability 0.
 * Errors (TS_ERR_INVALID): n == 0, T < 0, T NaN, any logit NaN or +inf,
 * or every logit -inf. `logits` is never written.
 */
ts_status ts_softmax(const float *logits, size_t n, double temperature, double *probs);

/* log softmax(z/T); same rules. At T = 0 the argmax gets 0, others -inf. */
ts_status ts_log_softmax(const float *logits, size_t n, double temperature, double *logp);

/* log sum_i exp(z_i / T) for T > 0 finite, stable; -inf entries skipped. */
double ts_logsumexp(const float *logits, size_t n, double temperature);

/* Index of the largest logit, first one on ties. n must be > 0. */
size_t ts_argmax(const float *logits, size_t n);

/* Entropy of a distribution, H = -sum p log p (0 log 0 = 0). */
double ts_entropy_nats(const double *p, size_t n);
double ts_entropy_bits(const double *p, size_t n);
/* Perplexity exp(H): the "effective vocabulary", how many equally likely
 * tokens would have the same entropy. */
double ts_perplexity(const double *p, size_t n);

/*
 * Entropy (nats) of softmax(z/T) straight from logits, no scratch memory.
 * T = 0 gives 0, T = inf gives log(#finite logits). Errors as ts_softmax.
 */
ts_status ts_entropy_at_temperature(const float *logits, size_t n, double temperature,
                                    double *entropy_nats);

/*
 * Both ts_logsumexp and ts_entropy_at_temperature for 0 < T < inf in one pass
 * of exp over the logits (the generator's per-token logprobs need both): the
 * same bits as the two calls. Errors as ts_softmax, and TS_ERR_INVALID for
 * T = 0 or T = inf (no finite log-sum-exp).
 */
ts_status ts_logsumexp_entropy(const float *logits, size_t n, double temperature, double *lse,
                               double *entropy_nats);

/*
 * Solve for the temperature whose softmax has the given entropy (nats).
 * Entropy is non-decreasing in T, so this is a safeguarded 1-D root find on
 * log T (Newton inside a bisection bracket), to ~1e-13 in entropy.
 * target must lie in [0, log(#finite logits)); TS_ERR_RANGE otherwise. When m
 * logits tie for the maximum, entropies below log(m) are unreachable (the
 * T -> 0+ limit is uniform over the ties): TS_ERR_RANGE; target 0 with a
 * unique maximum gives T = 0. Errors on the logits as ts_softmax.
 */
ts_status ts_temperature_for_entropy(const float *logits, size_t n, double target_nats,
                                     double *temperature);

/* KL(p || q) in nats; +inf when q_i = 0 < p_i. */
double ts_kl_divergence(const double *p, const double *q, size_t n);

/* ======================================================================== */
/* Random numbers (src/core/rng.c): PCG32, identical on every platform.          */
/* ======================================================================== */
/*
 * O'Neill's pcg32 (64-bit LCG state, XSH-RR output, period 2^64, 2^63
 * streams); a plain struct so it can live on the stack. Not cryptographic.
 */
typedef struct ts_rng {
    uint64_t state;
    uint64_t inc; /* stream selector, always odd */
} ts_rng;

/* pcg32_srandom_r(seed, stream): the reference seeding routine. */
void ts_rng_seed_stream(ts_rng *rng, uint64_t seed, uint64_t stream);
/* ts_rng_seed_stream(rng, seed, 54): with seed 42 this is the published
 * pcg32-demo sequence 0xa15c02b7 0x7b47f409 ... */
void ts_rng_seed(ts_rng *rng, uint64_t seed);
uint32_t ts_rng_u32(ts_rng *rng);
/* Uniform double in [0, 1) with 53 random bits: two u32 draws a, b give
 * ((a >> 5) * 2^26 + (b >> 6)) / 2^53. */
double ts_rng_uniform(ts_rng *rng);

/* ======================================================================== */
/* Sampler chain (src/sampling/sampler.c, docs/sampling.md)                 */
/* ======================================================================== */
/*
 * A candidate token of the distribution the sampler draws from.
 *   logit  the raw model logit (never modified);
 *   p      the final probability after every step of the chain (the kept
 *          candidates' p sum to 1);
 *   score  the logit after the logit-processing steps (logit_bias,
 *          penalties, no-repeat-n-gram, suppressed tokens), before any
 *          temperature: the ranking key. Equal to logit when none is active.
 * (score is last so that {id, logit, p} initialisers stay valid.)
 */
typedef struct ts_candidate {
    int32_t id;
    float logit;
    double p;
    double score;
} ts_candidate;

typedef enum ts_sampler_order {
    /* Hugging Face generate(): logits processors (logit_bias, repetition_penalty,
     * presence/frequency, no_repeat_ngram, min_new_tokens) -> temperature -> top-k ->
     * top-p -> min-p -> typical -> epsilon -> eta -> draw */
    TS_ORDER_HF = 0,
    /* llama.cpp common_sampler: logit_bias -> penalties (last-n window) -> top-n-sigma ->
     * top-k -> typical -> top-p -> min-p -> xtc -> temperature (dynatemp) -> draw */
    TS_ORDER_LLAMA = 1,
} ts_sampler_order;

/* One entry of ts_sampler_params.logit_bias: score[token] += bias. */
typedef struct ts_logit_bias {
    int32_t token; /* in [0, n_vocab), each token at most once */
    double bias;   /* finite, or -INFINITY to ban the token */
} ts_logit_bias;

/*
 * Every field is named as its JSON request field. "off" is the default and
 * means the step is not in the chain. Ranges are checked by ts_sampler_new,
 * whose messages start with "<field>: ". The steps, their formulas, their
 * positions in both orders and their T = 0 / T = inf behaviour are in
 * docs/sampling.md.
 */
typedef struct ts_sampler_params {
    double temperature;     /* [0, inf], default 1; 0 = greedy (argmax of the processed
                               scores), INFINITY = uniform over the kept tokens */
    int32_t top_k;          /* >= 0, default 50 (HF); 0 = off */
    double top_p;           /* (0, 1], default 1 = off */
    double min_p;           /* [0, 1), default 0 = off */
    ts_sampler_order order; /* default TS_ORDER_HF */
    uint64_t seed;          /* default 0: the sampler's RNG and the XTC coin */

    /* ---- logit processing: need the token history (ts_sampler_accept_prompt /
     *      ts_sampler_accept; ts_generator_run feeds it) ---- */
    /* (0, inf), default 1 = off. HF order: every distinct token of prompt + generated
     * (HF RepetitionPenaltyLogitsProcessor); llama order: the last penalty_last_n
     * tokens (llama.cpp penalties). score < 0 (llama: <= 0) -> score * r, else score / r. */
    double repetition_penalty;
    /* >= -1, default 64 (llama.cpp's): the llama-order penalty window in tokens of
     * prompt + generated; -1 = the whole history (n_ctx), 0 = no penalties. Not used
     * by the HF order, which counts every token. */
    int32_t penalty_last_n;
    /* [-2, 2], default 0 = off. OpenAI: score -= c * frequency_penalty +
     * (c > 0) * presence_penalty, c = times the token was generated (HF order: every
     * generated token, prompt not counted, as OpenAI / vLLM; llama order: c counts
     * prompt + generated in the last penalty_last_n tokens, as llama.cpp). */
    double presence_penalty;
    double frequency_penalty;
    /* >= 0, default 0 = off. HF NoRepeatNGramLogitsProcessor: a token that would
     * repeat an n-gram already in prompt + generated gets score -inf. */
    int32_t no_repeat_ngram_size;
    /* default NULL / 0 = off. token -> additive bias (OpenAI / llama.cpp logit_bias,
     * HF sequence_bias of length 1). Borrowed: copied by ts_sampler_new. */
    const ts_logit_bias *logit_bias;
    size_t n_logit_bias;

    /* ---- truncation ---- */
    double typical_p;       /* (0, 1], default 1 = off. Locally typical sampling: keep
                               the tokens whose -log p is closest to the entropy, up to
                               mass typical_p (HF TypicalLogitsWarper / llama.cpp typical) */
    double epsilon_cutoff;  /* [0, 1), default 0 = off. HF: drop p < epsilon (top token kept) */
    double eta_cutoff;      /* [0, 1), default 0 = off. HF: drop p < min(eta, sqrt(eta) e^-H) */
    double top_n_sigma;     /* finite, default -1; <= 0 = off. llama.cpp: keep score >=
                               max - n * std(scores of the kept tokens) */
    double xtc_probability; /* [0, 1], default 0 = off. llama.cpp XTC: with this chance per
                               step, drop every token with p >= xtc_threshold but the least
                               likely of them. The coin is hash(seed, step), see docs */
    double xtc_threshold;   /* [0, 1], default 0.1; > 0.5 = off (llama.cpp) */

    /* ---- temperature variants (at most one of dynatemp / target_entropy / mirostat) ---- */
    double dynatemp_range;    /* [0, inf), default 0 = off. llama.cpp: T in
                                 [max(0, temperature - range), temperature + range] from
                                 the normalised entropy of the kept tokens */
    double dynatemp_exponent; /* [0, inf), default 1: T = lo + (hi - lo) * (H / log n)^exponent */
    /* nats, [0, inf) or -1 (default) = off: instead of temperature, solve T each step so
     * that softmax(score / T) over the tokens kept at that point has this entropy
     * (ts_temperature_for_entropy). Requires temperature = 1 (it replaces it). */
    double target_entropy;
    int32_t mirostat;    /* 0 (default) = off, 1 or 2: Mirostat v1 / v2 (Basu et al.
                            2020, llama.cpp) replaces truncation: temperature ->
                            mirostat -> draw. ts_sampler_accept updates mu. */
    double mirostat_tau; /* (0, inf), default 5: target surprise, bits */
    double mirostat_eta; /* [0, inf), default 0.1: learning rate of mu */

    /* History capacity in tokens (prompt + generated), allocated by ts_sampler_new:
     * >= 0, default 0 = 1024. Set it to the context window. Older tokens are forgotten. */
    int32_t n_ctx;
} ts_sampler_params;

/* Every step off, HF do_sample defaults: T = 1, top-k 50, top-p 1, min-p 0, HF order,
 * seed 0, penalty_last_n 64, xtc_threshold 0.1, dynatemp_exponent 1, top_n_sigma -1,
 * target_entropy -1, mirostat_tau 5, mirostat_eta 0.1, n_ctx 0 (1024). */
ts_sampler_params ts_sampler_default_params(void);

/* Parse "hf" / "llama" (case-sensitive). TS_ERR_INVALID otherwise. */
ts_status ts_sampler_order_parse(const char *name, ts_sampler_order *out);
const char *ts_sampler_order_name(ts_sampler_order order);

typedef struct ts_sampler ts_sampler;

/*
 * Allocates all scratch for vocabularies of n_vocab tokens (the candidate array,
 * the token history of n_ctx tokens, per-token counters when penalties are on), so
 * that apply / sample / accept never allocate. Validates every field; the message
 * starts with the field's name ("top_p: 1.5 is outside (0, 1]"). The RNG is seeded
 * with ts_rng_seed(params->seed). The exact semantics of each step and order are in
 * docs/sampling.md.
 */
ts_status ts_sampler_new(const ts_sampler_params *params, size_t n_vocab, ts_sampler **out,
                         char *err, size_t err_size);
void ts_sampler_free(ts_sampler *s);
/* Re-seed the sampler's RNG and the XTC coin's key, and restart the XTC step count. */
void ts_sampler_reseed(ts_sampler *s, uint64_t seed);

/*
 * Forget the history (prompt and generated tokens), set Mirostat's mu back to
 * 2 * mirostat_tau, unsuppress every token and re-seed with params.seed (as
 * ts_sampler_reseed). Call it before a new sequence.
 */
void ts_sampler_reset(ts_sampler *s);

/*
 * Token history. Penalties and no-repeat-n-gram look at it (docs/sampling.md says
 * which tokens each counts). accept_prompt appends prompt tokens (counted by
 * repetition_penalty, the llama-order penalties and no_repeat_ngram_size, not by the
 * HF-order presence / frequency penalties, which count generated tokens only, as
 * OpenAI). accept appends a generated token and, with Mirostat, updates mu from the
 * token's surprise -log2 p under the last apply's distribution (no update when the
 * token was not a candidate). Only the last n_ctx tokens are kept. TS_ERR_INVALID
 * for an id outside [0, n_vocab). Never allocates.
 */
ts_status ts_sampler_accept_prompt(ts_sampler *s, const int32_t *ids, size_t n);
ts_status ts_sampler_accept(ts_sampler *s, int32_t token);
/* Tokens in the history (prompt + generated, at most n_ctx) and generated ones among them. */
size_t ts_sampler_history_size(const ts_sampler *s);
size_t ts_sampler_n_generated(const ts_sampler *s);

/*
 * Give token id score -inf in the following applies (the generator uses it for
 * min_new_tokens and ignore_eos); -1 = none. HF order: after no_repeat_ngram; llama
 * order: with logit_bias, first. Out-of-range ids are ignored.
 */
void ts_sampler_suppress(ts_sampler *s, int32_t id);

/*
 * Run the chain on logits[n_vocab] and expose the final candidates ranked by
 * score descending, ties by lower id first (so p is non-increasing; at
 * T = inf all p are equal and the ranking still follows the scores).
 * Masked (-inf) tokens are never candidates; with a tiny T a kept candidate's
 * p may underflow to 0. *cands is borrowed from the sampler and valid until
 * the next apply/sample/free. Always >= 1 candidate. Errors: as ts_softmax
 * (TS_ERR_INVALID for NaN / +inf logits or all -inf), and TS_ERR_INVALID when
 * the processing steps mask every token. Never allocates.
 */
ts_status ts_sampler_apply(ts_sampler *s, const float *logits, const ts_candidate **cands,
                           size_t *n_cands);

/*
 * Deterministic draw from candidates given u in [0,1): inverse CDF in the
 * given order — the first i with u < p_0 + ... + p_i. If rounding leaves u at
 * or past the total, the last candidate with p > 0. -1 when n_cands == 0.
 */
int32_t ts_sampler_pick(const ts_candidate *cands, size_t n_cands, double u);

/*
 * apply + pick with the sampler's own RNG (one ts_rng_uniform per call):
 * exactly the token ts_sampler_pick(apply(...), u) would give, but it sorts
 * only as much of the ranking as u reaches. Does not accept the token (call
 * ts_sampler_accept to advance the history and Mirostat). Returns the token id,
 * or -1 on error. Never allocates.
 */
int32_t ts_sampler_sample(ts_sampler *s, const float *logits);

/*
 * ts_sampler_apply without the final sort: the same kept set and p, in no
 * particular order (O(n) when no step of the chain needs a ranking, e.g. pure
 * sampling over the whole vocabulary, where the sort would cost more than the
 * rest of the step). For draws that do not depend on order (Gumbel-max) or
 * ts_sampler_draw. Borrowed like apply's; never allocates.
 */
ts_status ts_sampler_apply_unsorted(ts_sampler *s, const float *logits, const ts_candidate **cands,
                                    size_t *n_cands);

/*
 * After an apply: the token ts_sampler_pick would give for u over the ranked
 * candidates, sorting only as much of the ranking as u reaches (it reorders
 * the borrowed candidates toward the ranking). -1 before any apply.
 */
int32_t ts_sampler_draw(ts_sampler *s, double u);

/*
 * After an apply: make the first m borrowed candidates the top m of the
 * ranking, in order (the rest follow in no particular order). Returns how many
 * are ranked: min(m, n_cands); 0 before any apply.
 */
size_t ts_sampler_rank_head(ts_sampler *s, size_t m);

/* Entropy (nats) of the last apply's final distribution (the kept set at its
 * temperature; 0 when greedy), computed with the probabilities; NaN before any apply. */
double ts_sampler_last_entropy(const ts_sampler *s);

/* The temperature the last apply used (dynatemp and target_entropy set it per
 * step; Mirostat and the plain step report params.temperature). NaN before any apply. */
double ts_sampler_last_temperature(const ts_sampler *s);
/* Mirostat's current mu (bits); NaN when mirostat is off. */
double ts_sampler_mirostat_mu(const ts_sampler *s);
/*
 * Names of the active steps in the order they run ("logit_bias", "repetition_penalty",
 * "temperature", "top_k", ...; the draw is not listed). Writes at most cap static
 * strings into names and returns how many there are.
 */
size_t ts_sampler_chain(const ts_sampler *s, const char **names, size_t cap);

/* ======================================================================== */
/* GPT-2 byte-level BPE tokenizer (src/text/tokenizer.c)                         */
/* ======================================================================== */
typedef struct ts_tokenizer ts_tokenizer;

/*
 * Load GPT-2's vocab.json (token string -> id, strings written in GPT-2's
 * byte-to-unicode alphabet) and merges.txt ("#version" line, then "A B" per
 * line, rank = line order). Everything is validated: ids integer, unique and
 * dense 0..N-1, every token spelled in the byte alphabet, every byte has a
 * token, every merge's two parts and their concatenation are in the vocab.
 * On failure *out is NULL and err names the file and the line or token.
 */
ts_status ts_tokenizer_load(const char *vocab_json_path, const char *merges_txt_path,
                            ts_tokenizer **out, char *err, size_t err_size);
void ts_tokenizer_free(ts_tokenizer *tok);
size_t ts_tokenizer_vocab_size(const ts_tokenizer *tok);
/* Id of "<|endoftext|>", or -1 if the vocabulary has none. */
int32_t ts_tokenizer_eot(const ts_tokenizer *tok);

/* Treat the literal "<|endoftext|>" in text as the special token. */
#define TS_ENCODE_ALLOW_SPECIAL 1u

/*
 * Encode len raw bytes (any bytes: NUL, invalid UTF-8). Writes at most cap ids
 * and sets *n_ids to the total number of ids the text needs; returns
 * TS_ERR_RANGE when that is more than cap (call again with a bigger buffer).
 * ids may be NULL when cap is 0 (to count). Thread-safe on a shared tokenizer:
 * it allocates its own scratch per call (never per token). Invalid UTF-8
 * bytes are pre-tokenized as "other" characters (like punctuation), see
 * docs/tokenizer.md. TS_ERR_NOMEM when scratch cannot be allocated.
 */
ts_status ts_tokenizer_encode(const ts_tokenizer *tok, const char *text, size_t len, unsigned flags,
                              int32_t *ids, size_t cap, size_t *n_ids);

/* Raw bytes of a token (not NUL-terminated); NULL for an out-of-range id. */
const char *ts_tokenizer_token_bytes(const ts_tokenizer *tok, int32_t id, size_t *len);

/*
 * Concatenate the raw bytes of n ids into out (cap bytes, not NUL-terminated;
 * the bytes may be invalid UTF-8). *len gets the total size needed;
 * TS_ERR_RANGE when it exceeds cap, TS_ERR_INVALID for an id out of range.
 */
ts_status ts_tokenizer_decode(const ts_tokenizer *tok, const int32_t *ids, size_t n, char *out,
                              size_t cap, size_t *len);

/*
 * Streaming decode: feed token bytes, get back only complete UTF-8. An
 * incomplete trailing sequence (at most 3 bytes) is held until the next push
 * or flush; bytes that can never form valid UTF-8 come out as U+FFFD exactly
 * as CPython's bytes.decode("utf-8", errors="replace") (one U+FFFD per
 * maximal subpart), so pushing any split of a byte string and flushing gives
 * the one-shot decode. Zero-initialise the struct to start.
 * out must hold TS_UTF8_STREAM_OUT_MAX(len) bytes (each bad byte can become a
 * 3-byte U+FFFD); flush needs 3. Returns bytes written (no NUL).
 */
typedef struct ts_utf8_stream {
    unsigned char pending[4];
    size_t n_pending;
} ts_utf8_stream;
#define TS_UTF8_STREAM_OUT_MAX(len) (3 * (size_t)(len) + 4)
size_t ts_utf8_stream_push(ts_utf8_stream *st, const char *bytes, size_t len, char *out);
size_t ts_utf8_stream_flush(ts_utf8_stream *st, char *out);

/* ======================================================================== */
/* Model and context (src/engine/safetensors.c, src/engine/config.c, src/engine/model.c)         */
/* ======================================================================== */
/*
 * Element types of weight matrices. F32, F16 and BF16 are read from
 * checkpoints; Q8_0 exists only in memory, made at load (ts_model_params.weights):
 * blocks of 32 consecutive values along a matrix's input dimension, each an F16
 * scale d = max|x| / 127 and 32 int8 q = round(x / d), 34 bytes (llama.cpp's Q8_0).
 */
typedef enum ts_dtype {
    TS_DTYPE_F32 = 0,
    TS_DTYPE_F16 = 1,
    TS_DTYPE_BF16 = 2,
    TS_DTYPE_Q8_0 = 3,
} ts_dtype;
#define TS_DTYPE_COUNT 4
/* "F32", "F16", "BF16", "Q8_0"; "?" for anything else. Static string. */
const char *ts_dtype_name(ts_dtype dt);

/*
 * How ts_model_load holds the weight matrices (ts_model_params.weights).
 *   TS_WEIGHTS_STORED (0, the default): read in place from the mmap'd
 *     checkpoint, in its stored dtype. Load is lazy (pages come in on first
 *     use) and costs no memory beyond the page cache.
 *   TS_WEIGHTS_F32 / F16 / BF16 / Q8_0: every matrix is converted at load into
 *     that type, in anonymous memory (huge pages when the kernel gives them), in
 *     the layout the decode kernels stream fastest (docs/engine.md). Costs the
 *     load time of one pass over the weights (threaded) and the memory of the
 *     copy (F32 twice F16, Q8_0 34/32 bytes per weight). Converting to the
 *     stored type is a plain repack. Q8_0 needs n_embd a multiple of 32.
 * The embeddings' position table wpe, the LayerNorm parameters and the biases
 * stay F32 / as stored in every mode.
 */
typedef enum ts_weights_type {
    TS_WEIGHTS_STORED = 0,
    TS_WEIGHTS_F32 = 1,
    TS_WEIGHTS_F16 = 2,
    TS_WEIGHTS_BF16 = 3,
    TS_WEIGHTS_Q8_0 = 4,
} ts_weights_type;
/* "stored", "f32", "f16", "bf16", "q8_0". Static string; "?" for anything else. */
const char *ts_weights_type_name(ts_weights_type w);
/* Parse one of the names above (case-insensitive) into *out; false if unknown (out untouched). */
bool ts_weights_type_parse(const char *name, ts_weights_type *out);

/*
 * Where the stored weight matrices live once loaded (ts_model_params.memory;
 * only for TS_WEIGHTS_STORED: converted weights are always anonymous memory).
 *   TS_MEMORY_AUTO (0, the default): read from the mmap'd checkpoint at first,
 *     and copied into anonymous memory on huge pages by a background thread
 *     started at the end of ts_model_load (the vocabulary projection byte for
 *     byte, the Conv1D matrices repacked into 32-column panels on AVX-512
 *     CPUs; scheduled
 *     SCHED_IDLE: it runs only on an idle core, so it never slows an eval, and
 *     may wait through a long decode that keeps every core busy), when the
 *     matrices hold at least 32 MiB and at most half of the memory Linux
 *     reports available (MemAvailable) (below that the mapping's 4 KiB pages cost
 *     nothing measurable). Evals switch to the copy between two forward passes
 *     once it is complete; the panel kernels add the same products in the
 *     same order as the row-major ones, so every result is bitwise the same
 *     before and after (tests/test_model.c, tests/test_q8_0.c). The mapping's pages
 *     of the copied matrices are then dropped, so the RSS ends about where the
 *     mapped model's would. Load stays lazy: ts_model_load does not wait.
 *   TS_MEMORY_MAPPED: the mapping only (no thread, no copy; llama.cpp's mmap).
 *   TS_MEMORY_COPY: the background copy whatever the size (tests; small models).
 * Why: the same kernels stream 20-21 GB/s from the file mapping's 4 KiB pages
 * and 29-33 GB/s from huge pages on the dev VM (docs/engine.md).
 */
/* TS_MEMORY_AUTO copies the stored matrices from this size on (32 MiB). */
#define TS_MEMORY_AUTO_MIN_BYTES ((size_t)32 << 20)
typedef enum ts_weights_memory {
    TS_MEMORY_AUTO = 0,
    TS_MEMORY_MAPPED = 1,
    TS_MEMORY_COPY = 2,
} ts_weights_memory;
/* "auto", "mapped", "copy". Static string; "?" for anything else. */
const char *ts_weights_memory_name(ts_weights_memory m);
/* Parse one of the names above (case-insensitive) into *out; false if unknown (out untouched). */
bool ts_weights_memory_parse(const char *name, ts_weights_memory *out);

typedef struct ts_model ts_model;
typedef struct ts_context ts_context;

typedef struct ts_model_info {
    int32_t n_layer;
    int32_t n_head;
    int32_t n_embd;
    int32_t n_positions; /* context length */
    int32_t n_vocab;
    double layer_norm_epsilon;
    int32_t bos_token_id;
    int32_t eos_token_id;
    ts_dtype dtype; /* storage dtype of the weight matrices */
    size_t n_params;
    bool tied_lm_head;
} ts_model_info;

typedef struct ts_model_params {
    int32_t n_threads;        /* 0 = every online core (contexts' default, and the load's
                                 conversion threads) */
    ts_weights_type weights;  /* TS_WEIGHTS_STORED (0) = in place, as stored */
    ts_weights_memory memory; /* TS_MEMORY_AUTO (0) = mapped, then copied in the background */
    /* Directory of vocab.json and merges.txt when the checkpoint lacks them (NULL =
     * the checkpoint's own directory). Borrowed for the call. */
    const char *tokenizer_dir;
} ts_model_params;
ts_model_params ts_model_default_params(void);

/*
 * Load a GPT-2-family checkpoint from a Hugging Face layout directory:
 * config.json, model.safetensors (or model.safetensors.index.json + shards),
 * vocab.json, merges.txt. Weights are mmap'd (and converted when
 * params->weights asks; params NULL = defaults). On failure *out is NULL and
 * err names the file and field.
 *
 * Thread safety: a loaded model is read-only. Any number of contexts, each
 * used by one thread at a time, may evaluate concurrently on one model (every
 * converted copy is built inside ts_model_load; the background copy of
 * TS_MEMORY_AUTO is published whole, atomically, and read once per forward
 * pass). ts_model_free only after every context on it is freed; it stops and
 * joins the background copy.
 */
ts_status ts_model_load(const char *dir, const ts_model_params *params, ts_model **out, char *err,
                        size_t err_size);
void ts_model_free(ts_model *model);
const ts_model_info *ts_model_get_info(const ts_model *model);
/* Borrowed; valid until ts_model_free. */
const ts_tokenizer *ts_model_tokenizer(const ts_model *model);

/* How a loaded model holds its matrices (filled by ts_model_weights_info). */
typedef struct ts_weights_info {
    ts_weights_type mode;     /* what was asked */
    ts_dtype matrix_dtype;    /* dtype the kernels read (= info.dtype when stored) */
    size_t matrix_bytes;      /* bytes of weight matrices one decoded token reads
                                 (every block matrix + the vocabulary projection) */
    size_t copy_bytes;        /* anonymous memory holding converted matrices (0 when stored) */
    double convert_ms;        /* time ts_model_load spent converting (0 when stored) */
    ts_weights_memory memory; /* what was asked */
    bool copying;             /* the background copy is under way (TS_MEMORY_AUTO / COPY) */
    bool resident;            /* evals now read the background copy */
    size_t resident_bytes;    /* anonymous memory of that copy (0 until it is complete) */
    double resident_ms;       /* from the start of ts_model_load until the copy was complete */
    size_t resident_panels;   /* Conv1D matrices that copy holds repacked into 32-column panels
                                 (4 per layer on AVX-512 CPUs; 0 = all byte for byte) */
} ts_weights_info;
/* Fill *out (neither may be NULL); no allocation. A snapshot: a background copy may complete
 * right after. */
void ts_model_weights_info(const ts_model *model, ts_weights_info *out);
/*
 * Block until the background copy (TS_MEMORY_AUTO / COPY) has completed or
 * failed; true when evals now read the copy, false when there is none (mapped,
 * converted, too small for AUTO, or the copy could not be made: out of memory;
 * evals then keep reading the mapping, with the same results). Benchmarks call
 * it to time the steady state; nothing else needs to.
 */
bool ts_model_wait_resident(ts_model *model);

/*
 * Name of the SIMD code path the kernels take on this machine: "avx512",
 * "avx2+fma+f16c" or "scalar" (the best one compiled in and supported by the
 * CPU). Static string.
 */
const char *ts_engine_isa_name(void);

typedef struct ts_context_params {
    int32_t n_ctx;     /* 0 = the model's n_positions */
    int32_t n_threads; /* 0 = the model's */
    bool all_logits;   /* keep logits of every position of the last eval */
    bool profile;      /* accumulate per-phase times (ts_context_profile) */
} ts_context_params;
ts_context_params ts_context_default_params(void);

/* Allocates activations and the KV cache once; eval never allocates. */
ts_status ts_context_new(const ts_model *model, const ts_context_params *params, ts_context **out,
                         char *err, size_t err_size);
void ts_context_free(ts_context *ctx);
/* Number of tokens in the KV cache. */
size_t ts_context_n_past(const ts_context *ctx);
/* Drop the KV cache back to its first n_past tokens (n_past <= current). */
void ts_context_truncate(ts_context *ctx, size_t n_past);

/*
 * Append n tokens to the context and run the transformer over them (batched
 * for n > 1, GEMV for n == 1). TS_ERR_RANGE when n_past + n > n_ctx, and
 * TS_ERR_INVALID for an id outside the vocabulary (messages in err).
 */
ts_status ts_model_eval(ts_context *ctx, const int32_t *tokens, size_t n, char *err,
                        size_t err_size);

/* Logits of the last evaluated position: n_vocab floats, borrowed until the next eval. */
const float *ts_context_logits(const ts_context *ctx);
/*
 * With all_logits: logits of each position of the last eval, row-major
 * [*n_rows][n_vocab], borrowed until the next eval. NULL otherwise.
 */
const float *ts_context_all_logits(const ts_context *ctx, size_t *n_rows);

/*
 * Per-phase wall time of the forward passes of a context made with
 * profile = true, summed since it was made (or last reset), separately for
 * decode (n == 1) and prefill evals. Phases: the embedding lookup, the
 * LayerNorms, c_attn, the K/V cache copy, attention, attn.c_proj, mlp.c_fc
 * (+ gelu), mlp.c_proj, and the vocabulary projection (lm_head).
 * Profiling adds two clock reads per phase; without it the fields stay 0.
 */
typedef enum ts_phase {
    TS_PHASE_EMBED = 0,
    TS_PHASE_LAYERNORM,
    TS_PHASE_ATTN_QKV,
    TS_PHASE_KV_COPY,
    TS_PHASE_ATTENTION,
    TS_PHASE_ATTN_PROJ,
    TS_PHASE_MLP_FC,
    TS_PHASE_MLP_PROJ,
    TS_PHASE_LM_HEAD,
    TS_PHASE_COUNT
} ts_phase;
/* "embed", "layernorm", "c_attn", "kv_copy", "attention", "attn.c_proj", "mlp.c_fc",
   "mlp.c_proj", "lm_head". Static string. */
const char *ts_phase_name(ts_phase p);
typedef struct ts_profile {
    double decode_s[TS_PHASE_COUNT];  /* seconds summed over decode evals */
    double prefill_s[TS_PHASE_COUNT]; /* seconds summed over prefill evals */
    size_t decode_tokens;             /* decode evals counted */
    size_t prefill_tokens;            /* tokens of prefill evals counted */
} ts_profile;
/* Copy the sums into *out (all zero when the context was made without profile). */
void ts_context_profile(const ts_context *ctx, ts_profile *out);
/* Zero the sums (e.g. after a warm-up eval). */
void ts_context_profile_reset(ts_context *ctx);

/*
 * How much a converted model moves the next-token distribution, against a
 * reference model of the same shape (e.g. Q8_0 against the stored weights):
 * over n tokens cut into windows of `window` positions (each evaluated from an
 * empty context, every position scored),
 *   max_abs_dlogit   max over positions and vocabulary of |z_q - z_ref|,
 *   kl[i]            mean over positions of KL(p_ref || p_q) at temperature
 *                    temps[i] (softmax(z / T), log-sum-exp in double),
 *   top1_agree       share of positions whose argmax agrees.
 * n_positions = n (every token is scored; the last window may be shorter).
 * temps[0:n_temps] must be finite and > 0. n_threads 0 = the models' default.
 * Allocates two contexts with all_logits (of window positions each) and frees
 * them; the models are only read (they may be shared with other threads). TS_ERR_INVALID when the
 * shapes differ, window is 0 or beyond either model's n_positions, or n_temps > 8.
 */
#define TS_FIDELITY_MAX_TEMPS 8
typedef struct ts_fidelity {
    size_t n_positions;
    double max_abs_dlogit;
    double mean_abs_dlogit; /* over positions and vocabulary */
    size_t n_temps;
    double temps[TS_FIDELITY_MAX_TEMPS];
    double kl[TS_FIDELITY_MAX_TEMPS];
    double top1_agree;
} ts_fidelity;
ts_status ts_model_fidelity(const ts_model *ref, const ts_model *q, const int32_t *tokens, size_t n,
                            size_t window, const double *temps, size_t n_temps, int32_t n_threads,
                            ts_fidelity *out, char *err, size_t err_size);

/* ======================================================================== */
/* Generation, temperature sweeps, sampling statistics                      */
/* (src/sampling/generate.c, src/sampling/sweep.c, src/core/chi2.c) */
/* ======================================================================== */

/* How a draw turns the candidates into a token. */
typedef enum ts_gen_draw {
    /* One uniform u per step from PCG32 stream (seed, stream); ts_sampler_pick. */
    TS_DRAW_INVERSE_CDF = 0,
    /*
     * Gumbel-max: argmax_i log p_i + g(seed, stream, step, id). The noise of a
     * token at a step is the same at every temperature, so runs at several T
     * share one random stream ("coupled"); as T -> 0 it is exactly greedy.
     * What is shared: the noise per (seed, stream, step, id) and the XTC coin
     * per (seed, stream, step); nothing else is random.
     */
    TS_DRAW_GUMBEL = 1,
} ts_gen_draw;

/* At most this many stop strings, each of 1 to TS_GEN_STOP_MAX_BYTES bytes. */
#define TS_GEN_MAX_STOP       4
#define TS_GEN_STOP_MAX_BYTES 256
/* At most this many top alternatives per step (top_logprobs). */
#define TS_GEN_MAX_TOP_LOGPROBS 20

typedef struct ts_gen_params {
    size_t max_new_tokens; /* default 50 */
    bool stop_at_eot;      /* default true: stop after drawing <|endoftext|> */
    ts_gen_draw draw;      /* default TS_DRAW_INVERSE_CDF */
    uint64_t seed;
    uint64_t stream; /* independent streams from one seed: sample index */
    /* Stop strings (OpenAI "stop"): generation stops BEFORE the first occurrence of any
     * of them in the generated text, matched across token boundaries; the text given to
     * the callback never contains it. Borrowed for the run. 0..TS_GEN_MAX_STOP strings,
     * each 1..TS_GEN_STOP_MAX_BYTES bytes. Default NULL / 0. */
    const char *const *stop;
    size_t n_stop;
    /* HF min_new_tokens: <|endoftext|> cannot be drawn before this many new tokens.
     * Default 0. */
    size_t min_new_tokens;
    /* llama.cpp --ignore-eos: <|endoftext|> is never drawn (score -inf). Default false. */
    bool ignore_eos;
    /* Log-probabilities of each token (raw and processed, ts_gen_step). Default false. */
    bool logprobs;
    /* 0..TS_GEN_MAX_TOP_LOGPROBS alternatives per step in both distributions (implies
     * logprobs). Default 0. */
    size_t top_logprobs;
    /* At the end of the context window: false (default) stops with TS_STOP_CONTEXT
     * (finish "length"); true keeps the last half of the window and continues. GPT-2's
     * positions are learned and absolute, so the kept tokens are evaluated again from
     * position 0 (a prefill of n_ctx / 2 tokens per shift). Needs the window
     * (ts_generator_set_n_ctx). With ts_generator_set_prompt_ex it also lets a prompt
     * longer than the window keep its last n_ctx / 2 tokens. */
    bool context_shift;
} ts_gen_params;
ts_gen_params ts_gen_default_params(void);

/* A token and its log-probability in one distribution. */
typedef struct ts_token_logprob {
    int32_t id;
    double logprob;
} ts_token_logprob;

/* What the callback learns about each new token. */
typedef struct ts_gen_step {
    size_t index; /* 0-based among the new tokens */
    int32_t id;
    double prob;         /* p of id in the distribution it was drawn from (after the chain) */
    double entropy_nats; /* entropy of that distribution */
    size_t n_candidates; /* tokens left after truncation */
    bool is_eot;         /* id is <|endoftext|> (its text is not emitted when stopping) */
    const char *text;    /* complete UTF-8 this step releases (may be empty); borrowed, */
    size_t text_len;     /* valid during the callback only; not NUL-terminated */
    double temperature;  /* the temperature this step used (dynatemp / target_entropy) */
    /* ---- with params.logprobs or top_logprobs > 0 (else 0 / NULL) ---- */
    bool has_logprobs;
    double logprob_raw;              /* RAW: log_softmax(z)[id] of the unmodified logits, T = 1 */
    double entropy_raw_nats;         /* RAW: entropy of softmax(z) */
    double logprob;                  /* PROCESSED: log p[id] in the distribution sampled from
                                        (after penalties, temperature, truncation) = log(prob) */
    const ts_token_logprob *top_raw; /* [n_top_raw] by raw logprob, descending */
    size_t n_top_raw;
    const ts_token_logprob *top; /* [n_top] by processed logprob, descending (fewer */
    size_t n_top;                /* when fewer tokens survive the chain) */
} ts_gen_step;

/* Return non-zero to stop generating. */
typedef int (*ts_gen_callback)(const ts_gen_step *step, void *user);

typedef enum ts_stop_reason {
    TS_STOP_LENGTH = 0,   /* max_new_tokens reached */
    TS_STOP_EOT = 1,      /* <|endoftext|> drawn */
    TS_STOP_CALLBACK = 2, /* the callback returned non-zero */
    TS_STOP_STRING = 3,   /* a stop string appeared (result.stop_index says which) */
    TS_STOP_CONTEXT = 4,  /* the context window is full (no context_shift) */
} ts_stop_reason;
/* OpenAI's finish_reason: "stop" (EOT, stop string, callback) or "length"
 * (max_new_tokens, context window). Static string. */
const char *ts_stop_reason_finish(ts_stop_reason r);
/* "length", "eot", "callback", "stop_string", "context": the exact reason. */
const char *ts_stop_reason_name(ts_stop_reason r);

typedef struct ts_gen_result {
    size_t n_generated;
    ts_stop_reason stop;
    int32_t stop_index;      /* TS_STOP_STRING: index into params.stop, else -1 */
    size_t n_context_shifts; /* times the window was shifted */
} ts_gen_result;

typedef struct ts_generator ts_generator;

/*
 * A generation loop over ctx (borrowed; the generator owns the context's KV
 * cache while in use). Allocates a copy of one logit row and a text buffer
 * once; the decode loop never allocates.
 */
ts_status ts_generator_new(ts_context *ctx, const ts_tokenizer *tok, size_t n_vocab,
                           ts_generator **out, char *err, size_t err_size);
void ts_generator_free(ts_generator *g);

/*
 * Tell the generator the context window of its ctx in tokens (the n_ctx the context
 * was made with, or the model's n_positions when that was 0); allocates its token
 * window once. Needed by context_shift. Without it the generator still stops exactly
 * at the window (it learns it from the first overflow). TS_ERR_NOMEM, TS_ERR_INVALID
 * for 0.
 */
ts_status ts_generator_set_n_ctx(ts_generator *g, size_t n_ctx, char *err, size_t err_size);

/*
 * Reset the context and evaluate the prompt (n >= 1) once; its last logits are
 * kept so every following run starts from them without recomputing. A prompt
 * longer than the window fails with TS_ERR_RANGE naming both sizes.
 */
ts_status ts_generator_set_prompt(ts_generator *g, const int32_t *ids, size_t n, char *err,
                                  size_t err_size);
/*
 * set_prompt, except that with params->context_shift a prompt longer than the window
 * keeps its last n_ctx / 2 tokens (ts_generator_prompt_size tells how many). params
 * may be NULL (= set_prompt).
 */
ts_status ts_generator_set_prompt_ex(ts_generator *g, const int32_t *ids, size_t n,
                                     const ts_gen_params *params, char *err, size_t err_size);
/* Tokens of the prompt in the context (after a cut), 0 before set_prompt. */
size_t ts_generator_prompt_size(const ts_generator *g);
/* The prompt's last-position logits (n_vocab), or NULL before set_prompt. */
const float *ts_generator_prompt_logits(const ts_generator *g);
/* How many ts_model_eval calls this generator made (one per prefill or decode step). */
size_t ts_generator_n_evals(const ts_generator *g);

/*
 * Generate up to params->max_new_tokens after the prompt: roll the KV cache back
 * to the prompt (evaluating it again only if a context shift overwrote it), reset
 * the sampler (ts_sampler_reset, then reseed it with the run's (seed, stream) key
 * and feed it the prompt, ts_sampler_accept_prompt), then per step apply the chain
 * (with <|endoftext|> suppressed while fewer than min_new_tokens, or always with
 * ignore_eos), draw, ts_sampler_accept the token, call cb and evaluate the token
 * (the last token is not evaluated). Text given to cb is always complete UTF-8
 * (ts_utf8_stream) with stop strings held back. Reaching the context window stops
 * (TS_STOP_CONTEXT) or shifts (context_shift): never an error. Parameter errors
 * (too many or too long stop strings, top_logprobs > 20, context_shift without
 * the window) are TS_ERR_INVALID naming the field. The decode loop never allocates.
 */
ts_status ts_generator_run(ts_generator *g, ts_sampler *sampler, const ts_gen_params *params,
                           ts_gen_callback cb, void *user, ts_gen_result *result, char *err,
                           size_t err_size);

/* Standard Gumbel noise for (seed, stream, step, id): a counter-based hash, no state. */
double ts_gumbel_noise(uint64_t seed, uint64_t stream, uint64_t step, int32_t id);
/* Gumbel-max draw from candidates (p > 0 only), in any order: the argmax of
 * log p + g, computed as the argmin of E / p with E = -log u ~ Exp(1) (the same
 * token, one log per candidate instead of three); -1 if none has p > 0. */
int32_t ts_gumbel_pick(const ts_candidate *cands, size_t n, uint64_t seed, uint64_t stream,
                       uint64_t step);

/*
 * ids[k] = the k largest logits' indices, by logit descending (lower id on
 * ties); O(n log k), no allocation. TS_ERR_INVALID unless 0 < k <= n.
 */
ts_status ts_top_k_ids(const float *logits, size_t n, size_t k, int32_t *ids);

/*
 * One logit vector at n_temps temperatures: top_ids[k] (by logit, the same at
 * every T > 0), prob[t*k + r] over the full vocabulary, prob_topk[t*k + r]
 * renormalised within the k, entropy_nats[t] of the full softmax. One pass
 * and one exp per token per temperature; no allocation, logits never written.
 * T = 0 is one-hot on the argmax, T = inf uniform over the finite logits.
 * Errors as ts_softmax / ts_top_k_ids.
 */
ts_status ts_sweep(const float *logits, size_t n_vocab, const double *temperatures, size_t n_temps,
                   size_t k, int32_t *top_ids, double *prob, double *prob_topk,
                   double *entropy_nats);

/* Upper tail P(X > x) of the chi-square distribution with dof degrees of freedom. */
double ts_chi2_sf(double x, double dof);

typedef struct ts_chi2_result {
    double statistic;
    double dof;    /* n_bins - 1 */
    size_t n_bins; /* after pooling categories with expected count < 5 */
    double p_value;
} ts_chi2_result;

/*
 * Pearson goodness of fit of counts[n_cat] against expected_p[n_cat] (sums to
 * 1; pass categories by decreasing p). Categories with expected count < 5 are
 * pooled with the following ones. TS_ERR_INVALID for n_cat < 2, no counts,
 * or probabilities that do not sum to 1 within 1e-6.
 */
ts_status ts_chi2_test(const size_t *counts, const double *expected_p, size_t n_cat,
                       ts_chi2_result *out);

/* ======================================================================== */
/* Calibration (src/calib/calibrate.c)                                            */
/* ======================================================================== */
typedef struct ts_calib_metrics {
    double nll;           /* mean negative log-likelihood, nats */
    double accuracy;      /* top-1 */
    double ece;           /* expected calibration error, equal-width bins (lo, hi] */
    double mce;           /* maximum calibration error over non-empty bins */
    double ace;           /* adaptive ECE, equal-mass bins */
    double brier;         /* multi-class Brier score, mean over rows of sum_k (p_k - y_k)^2 */
    double classwise_ece; /* class-wise ECE (Kull et al. 2019): mean over classes j of the ECE of
                             p_j against [y = j], equal-width bins on p_j; NaN for the LM store */
} ts_calib_metrics;

typedef struct ts_calib_bin {
    double lo, hi; /* (lo, hi] */
    size_t count;
    double mean_confidence; /* 0 when empty */
    double accuracy;        /* 0 when empty */
} ts_calib_bin;

/* The fitted temperature is confined to [TS_CALIB_T_MIN, TS_CALIB_T_MAX]. */
#define TS_CALIB_T_MIN 1e-3
#define TS_CALIB_T_MAX 1e3
/* Largest n_bins the metrics accept. */
#define TS_CALIB_MAX_BINS 1000

typedef struct ts_calib_fit {
    double temperature;
    int32_t iterations;           /* objective passes after the first (Newton or bisection steps) */
    bool converged;               /* step <= 1e-10 relative (or the gradient is exactly 0) */
    int32_t at_bound;             /* 0 interior; -1 NLL still falls at T_MIN (separable, all right);
                                     +1 NLL still falls at T_MAX (labels against the logits) */
    double nll_before, nll_after; /* mean NLL at T = 1 and at T* */
} ts_calib_fit;

/*
 * Fit T* > 0 minimising mean NLL of softmax(logits/T) against labels.
 * logits is row-major [n][k] (k >= 2), labels in [0, k). Safeguarded Newton
 * on log T, converged to 1e-8 relative. No allocation beyond O(1).
 */
ts_status ts_calib_fit_temperature(const float *logits, const int32_t *labels, size_t n, size_t k,
                                   ts_calib_fit *out, char *err, size_t err_size);

/*
 * Metrics of softmax(logits/T) with n_bins bins (15 as Guo et al.), n_bins in
 * [1, TS_CALIB_MAX_BINS]. Allocates O(n) scratch (per-row confidences and the
 * sort for the adaptive ECE). Accuracy does not depend on T.
 */
ts_status ts_calib_metrics_compute(const float *logits, const int32_t *labels, size_t n, size_t k,
                                   double temperature, int32_t n_bins, ts_calib_metrics *out,
                                   char *err, size_t err_size);

/* Reliability diagram data: bins[n_bins], equal-width on max-softmax confidence. */
ts_status ts_calib_reliability(const float *logits, const int32_t *labels, size_t n, size_t k,
                               double temperature, int32_t n_bins, ts_calib_bin *bins);

/* ---- bootstrap intervals (src/calib/bootstrap.c, src/calib/calib_bootstrap.c) ----
 * Percentile bootstrap, seeded and reproducible: replicate b of n rows under
 * seed s is a PCG32 seeded ts_rng_seed_stream(s, b) drawing n row indices with
 * O'Neill's unbiased bounded draw (ts_bootstrap_resample; tools/science_oracle.py
 * draws the same ones). Same seed, same intervals, whatever the thread count.
 * The interval is the (1-level)/2 and (1+level)/2 quantiles of the replicate
 * values, interpolated as numpy.percentile (linear). docs/science.md.
 */
typedef struct ts_interval {
    double estimate; /* the statistic on the full data */
    double lo, hi;   /* percentile interval; NaN when no replicate was defined */
    int32_t n_valid; /* replicates with a defined (non-NaN) value */
} ts_interval;

typedef struct ts_bootstrap_params {
    int32_t n_resamples; /* B, in [2, TS_BOOTSTRAP_MAX]; default 1000 */
    double level;        /* in (0, 1); default 0.95 */
    uint64_t seed;       /* default 0 */
} ts_bootstrap_params;
#define TS_BOOTSTRAP_MAX 1000000

/* B = 1000, level 0.95, seed 0. */
ts_bootstrap_params ts_bootstrap_default_params(void);

/*
 * The row indices of replicate `replicate` of a bootstrap of n rows: idx[n]
 * (caller's array). TS_ERR_INVALID for n == 0 or n >= 2^32. No allocation.
 */
ts_status ts_bootstrap_resample(uint64_t seed, uint64_t replicate, size_t n, uint32_t *idx);

/*
 * Intervals for n_stats ratios of sums over n units (samples, rows):
 * statistic s = sum_i num[i][s] / sum_i den[i][s] (den NULL: the mean of
 * num[.][s]), recomputed on every resample of units. out[n_stats]. A replicate
 * whose denominator is 0 is undefined (dropped; see n_valid). Allocates
 * B x n_stats doubles.
 */
ts_status ts_bootstrap_ratio(const double *num, const double *den, size_t n, size_t n_stats,
                             const ts_bootstrap_params *bp, ts_interval *out, char *err,
                             size_t err_size);

/* One interval per field of ts_calib_metrics (classwise ECE excluded). */
typedef struct ts_calib_metrics_ci {
    ts_interval nll, accuracy, ece, mce, ace, brier;
} ts_calib_metrics_ci;

/*
 * Bootstrap intervals of the metrics of softmax(logits / T) at each of n_temps
 * temperatures: ci[n_temps]. Every replicate resamples rows once and scores
 * all temperatures on it, so delta[t] (may be NULL) is the paired interval of
 * metric(T_t) - metric(T_0) — e.g. temperatures {1, T*}: does T* really change
 * the ECE? Cost: one pass over the logits per temperature, then O(n) per
 * replicate; threads over replicates. Allocates O(n x n_temps).
 */
ts_status ts_calib_metrics_bootstrap(const float *logits, const int32_t *labels, size_t n, size_t k,
                                     const double *temperatures, size_t n_temps, int32_t n_bins,
                                     const ts_bootstrap_params *bp, ts_calib_metrics_ci *ci,
                                     ts_calib_metrics_ci *delta, char *err, size_t err_size);

/*
 * Interval for T*: T is refitted (exactly, Newton from the full-data T*) on
 * every resample of rows. t_star->estimate is the full-data T*. Cost: about
 * 3 passes over the resampled logits per replicate, e.g. ~1 s per replicate
 * for 1e6 x 10 on the loaded 2-core dev VM (bench/bench_science.c); use a
 * smaller B for big sets.
 */
ts_status ts_calib_fit_bootstrap(const float *logits, const int32_t *labels, size_t n, size_t k,
                                 const ts_bootstrap_params *bp, ts_interval *t_star, char *err,
                                 size_t err_size);

/* ---- vector and matrix scaling, the comparison (src/calib/scaling.c) ----
 * Guo et al. 2017's baselines, p = softmax(q):
 *   TS_CALIB_NONE         q = z                 0 parameters
 *   TS_CALIB_TEMPERATURE  q = z / T             1
 *   TS_CALIB_VECTOR       q_j = w_j z_j + b_j   2K
 *   TS_CALIB_MATRIX       q = W z + b           K^2 + K, only for K <= TS_CALIB_MATRIX_MAX_K
 * fitted by mean NLL (+ l2/2 (||w - 1||^2 or ||W - I||_F^2, + ||b||^2); l2 = 0 is
 * Guo et al.'s unregularised fit) with L-BFGS (liblbfgs) from the identity.
 */
typedef enum ts_calib_method {
    TS_CALIB_NONE = 0,
    TS_CALIB_TEMPERATURE = 1,
    TS_CALIB_VECTOR = 2,
    TS_CALIB_MATRIX = 3,
} ts_calib_method;
#define TS_CALIB_N_METHODS    4
#define TS_CALIB_MATRIX_MAX_K 100

/* "none", "temperature", "vector", "matrix". Static. */
const char *ts_calib_method_name(ts_calib_method m);
/* Parameters of a method for K classes (0, 1, 2K, K^2 + K). */
size_t ts_calib_method_params(ts_calib_method m, size_t k);

typedef struct ts_calib_scaling_info {
    size_t n_params;
    double l2;          /* the penalty used (0 for none / temperature) */
    int32_t iterations; /* L-BFGS iterations (Newton passes for temperature) */
    bool converged;     /* L-BFGS success, or max |gradient| <= 1e-7 */
    int status;         /* liblbfgs return code (0 for none / temperature) */
    double grad_max;    /* max |dJ/dx| at the solution (vector / matrix) */
    double objective;   /* J at the solution (vector / matrix) */
    double nll_fit;     /* mean NLL on the fit set at the solution */
} ts_calib_scaling_info;

typedef struct ts_calib_scaling ts_calib_scaling;

/*
 * Fit a method on logits [n][k] and labels. TS_ERR_UNSUPPORTED for matrix
 * scaling with K > 100, TS_ERR_INVALID for bad rows / l2 < 0. *out is owned
 * by the caller (ts_calib_scaling_free). Allocates O(K^2 + 2048 K).
 */
ts_status ts_calib_scaling_fit(ts_calib_method method, const float *logits, const int32_t *labels,
                               size_t n, size_t k, double l2, ts_calib_scaling **out, char *err,
                               size_t err_size);
void ts_calib_scaling_free(ts_calib_scaling *s);
ts_calib_method ts_calib_scaling_method(const ts_calib_scaling *s);
/* Borrowed, valid until ts_calib_scaling_free. */
const ts_calib_scaling_info *ts_calib_scaling_get_info(const ts_calib_scaling *s);
/* T of none (1) / temperature scaling; 1 for the others. */
double ts_calib_scaling_temperature(const ts_calib_scaling *s);
/* w[K] (vector) or W[K][K] row-major (matrix), and b[K] in *bias; NULL for none /
 * temperature. Borrowed. */
const double *ts_calib_scaling_weights(const ts_calib_scaling *s, const double **bias);
/* out[n][k] = the scaled logits q of n rows (log-probabilities up to a per-row shift). */
ts_status ts_calib_scaling_apply(const ts_calib_scaling *s, const float *logits, size_t n,
                                 double *out);
/* Metrics of softmax(q) on (logits, labels), including class-wise ECE; bins may be NULL.
 * Vector and matrix scaling may change the argmax, hence the accuracy. */
ts_status ts_calib_scaling_metrics(const ts_calib_scaling *s, const float *logits,
                                   const int32_t *labels, size_t n, int32_t n_bins,
                                   ts_calib_metrics *out, ts_calib_bin *bins, char *err,
                                   size_t err_size);

/* One row of the comparison table. */
typedef struct ts_calib_comparison {
    ts_calib_method method;
    size_t n_params;
    bool fitted;        /* false: skipped (matrix with K > 100), see note */
    char note[96];      /* why skipped / not converged; "" otherwise */
    double temperature; /* T for none / temperature */
    ts_calib_scaling_info info;
    ts_calib_metrics metrics; /* on the evaluation set */
    bool has_intervals;
    ts_calib_metrics_ci ci;    /* bootstrap over evaluation rows (same resamples for all rows) */
    ts_calib_metrics_ci delta; /* metric(method) - metric(none), paired */
} ts_calib_comparison;

/*
 * Fit every method on (fit_logits, fit_labels) and evaluate on (eval_logits,
 * eval_labels) — pass the same arrays twice for an in-sample table. out is
 * indexed by ts_calib_method. bp (may be NULL) adds bootstrap intervals.
 */
ts_status ts_calib_compare(const float *fit_logits, const int32_t *fit_labels, size_t n_fit,
                           const float *eval_logits, const int32_t *eval_labels, size_t n_eval,
                           size_t k, int32_t n_bins, double l2, const ts_bootstrap_params *bp,
                           ts_calib_comparison out[TS_CALIB_N_METHODS], char *err, size_t err_size);

/* ---- diagnostics (src/calib/diagnose.c) ---- */
#define TS_CALIB_MIN_BIN_ROWS 30   /* a bin with fewer rows is "thin" */
#define TS_CALIB_SPARSE_SHARE 0.05 /* share of rows in thin bins that triggers a warning */
enum {
    TS_CALIB_WARN_FEW_ROWS = 1u << 0,    /* n < 30 x n_bins */
    TS_CALIB_WARN_SPARSE_BINS = 1u << 1, /* > 5 % of rows in non-empty bins of < 30 rows */
    TS_CALIB_WARN_ECE_WORSE = 1u << 2,   /* ECE(T*) > ECE(1) */
    TS_CALIB_WARN_ECE_WORSE_SIGNIFICANT = 1u << 3, /* ... and the paired delta interval is > 0 */
    TS_CALIB_WARN_AT_BOUND = 1u << 4,              /* T* at TS_CALIB_T_MIN / T_MAX */
    TS_CALIB_WARN_NOT_CONVERGED = 1u << 5,
};
/*
 * The warnings that apply, as a bit set. bins (the reliability bins of the
 * set being judged, may be NULL), fit, before/after (metrics at T = 1 and T*)
 * and delta (paired after - before interval) may each be NULL to skip their
 * checks. Pure: no allocation.
 */
unsigned ts_calib_diagnose(const ts_calib_bin *bins, int32_t n_bins, size_t n,
                           const ts_calib_fit *fit, const ts_calib_metrics *before,
                           const ts_calib_metrics *after, const ts_calib_metrics_ci *delta);
/* A one-line English explanation of one warning bit (static; "" for unknown). */
const char *ts_calib_warning_text(unsigned bit);

/*
 * True when every row is non-negative and sums to 1 (within 1e-6 + k * 6e-8):
 * probabilities passed where logits are expected. Log-probabilities are fine.
 */
bool ts_calib_looks_like_probabilities(const float *logits, size_t n, size_t k);

/* One reliability diagram: bins from ts_calib_reliability and the ECE to print. */
typedef struct ts_reliability_panel {
    const char *title;        /* e.g. "before: T = 1" */
    const ts_calib_bin *bins; /* [n_bins], borrowed */
    int32_t n_bins;
    double ece;
    bool emphasis; /* accent frame (the calibrated panel) */
} ts_reliability_panel;

/* Optional NLL(T) panel drawn left of the diagrams (the LM path). */
typedef struct ts_nll_curve {
    const double *t, *nll; /* [n], t increasing */
    size_t n;
    double t_star, nll_at_star, nll_at_1;
} ts_nll_curve;

/*
 * Reliability diagrams side by side (1 to 4 panels): accuracy per bin as bars,
 * the gap between accuracy and mean confidence shaded (red where the bin is
 * over-confident, purple where under-confident), the diagonal, "ECE = x %" on
 * each panel, and a confidence histogram beneath (one y scale shared by all
 * panels, mean confidence and accuracy marked). The legend sits below the
 * panels, off the data. curve may be NULL. PNG / SVG / PDF from the
 * extension, written atomically.
 */
ts_status ts_plot_reliability(const char *path, const ts_reliability_panel *panels, size_t n_panels,
                              const ts_nll_curve *curve, const char *title, char *err,
                              size_t err_size);

/* ======================================================================== */
/* Calibration of language models on text (src/calib/calibrate_lm.c)              */
/* ======================================================================== */

/*
 * A compact store of next-token distributions for fitting T on text: per token
 * the target's logit and the 64 largest logits exactly, the rest as a 256-bin
 * histogram (count + mean per bin): 2.3 KB per token whatever the vocabulary.
 * The NLL it gives is low by at most the reported nll_error_bound (Hoeffding;
 * see src/calib/calibrate_lm.c). Allocates everything in ts_lm_calib_new.
 */
typedef struct ts_lm_calib ts_lm_calib;

ts_status ts_lm_calib_new(size_t n_vocab, size_t max_tokens, ts_lm_calib **out, char *err,
                          size_t err_size);
void ts_lm_calib_free(ts_lm_calib *c);
/*
 * Record one scored position: logits[n_vocab] (not kept) and the token that
 * followed. TS_ERR_RANGE when max_tokens are stored, TS_ERR_INVALID for a bad
 * target or a non-finite logit. No allocation.
 */
ts_status ts_lm_calib_add(ts_lm_calib *c, const float *logits, int32_t target);
size_t ts_lm_calib_count(const ts_lm_calib *c);
/* Fit T* in [t_min, t_max] by mean NLL over the stored tokens (as ts_calib_fit_temperature). */
ts_status ts_lm_calib_fit(const ts_lm_calib *c, double t_min, double t_max, ts_calib_fit *out);
/* Mean NLL (nats / token) at T; NaN when empty or T <= 0. */
double ts_lm_calib_nll(const ts_lm_calib *c, double temperature);
/*
 * Top-1 next-token metrics at T: nll, accuracy, ece, mce, ace (brier is NaN).
 * bins (may be NULL) gets n_bins reliability bins; nll_error_bound (may be
 * NULL) the mean upper bound of the store's NLL underestimate at T.
 */
ts_status ts_lm_calib_metrics(const ts_lm_calib *c, double temperature, int32_t n_bins,
                              ts_calib_metrics *out, ts_calib_bin *bins, double *nll_error_bound,
                              char *err, size_t err_size);

/* Tokens [begin, end) of the store only (a held-out split); errors as the whole-store calls. */
ts_status ts_lm_calib_fit_range(const ts_lm_calib *c, size_t begin, size_t end, double t_min,
                                double t_max, ts_calib_fit *out);
ts_status ts_lm_calib_metrics_range(const ts_lm_calib *c, size_t begin, size_t end,
                                    double temperature, int32_t n_bins, ts_calib_metrics *out,
                                    ts_calib_bin *bins, double *nll_error_bound, char *err,
                                    size_t err_size);
/*
 * Bootstrap over the tokens [begin, end) (i.i.d. tokens: text is autocorrelated,
 * so these intervals are on the narrow side; docs/science.md). T* in [t_min,
 * t_max] on every resample: the NLL's derivative is evaluated exactly at 65
 * nodes around the full-data T* (x/÷ 1.5) and interpolated (cubic Hermite)
 * between them, so a replicate costs O(tokens) additions, not a refit; roots
 * outside the nodes, and ranges over 262,144 tokens, are refitted exactly
 * (src/calib/calibrate_lm.c). The metrics as ts_calib_metrics_bootstrap
 * (delta[t] paired vs temperatures[0]; brier NaN). Allocates O(end - begin).
 */
ts_status ts_lm_calib_fit_bootstrap(const ts_lm_calib *c, size_t begin, size_t end, double t_min,
                                    double t_max, const ts_bootstrap_params *bp,
                                    ts_interval *t_star, char *err, size_t err_size);
ts_status ts_lm_calib_metrics_bootstrap(const ts_lm_calib *c, size_t begin, size_t end,
                                        const double *temperatures, size_t n_temps, int32_t n_bins,
                                        const ts_bootstrap_params *bp, ts_calib_metrics_ci *ci,
                                        ts_calib_metrics_ci *delta, char *err, size_t err_size);

/* A held-out split of the stored tokens (`calibrate --fit-until F`). */
typedef struct ts_lm_heldout {
    size_t split;                   /* tokens [0, split) fit T*, [split, n) are scored */
    ts_calib_fit fit;               /* on the fit part (nll_before / nll_after of that part) */
    ts_calib_metrics before, after; /* on the scored part at T = 1 and T* */
    double nll_error_bound;         /* the store's bound on the scored part (max of both T) */
    bool has_intervals;             /* the fields below are filled (bp given) */
    ts_interval t_star;             /* T* refitted on resamples of the fit part */
    ts_calib_metrics_ci before_ci, after_ci; /* resamples of the scored part */
    ts_calib_metrics_ci delta_ci;            /* after - before, paired (same resamples) */
} ts_lm_heldout;

/*
 * Fit T on the first floor(F n) stored tokens and score the rest at T = 1 and
 * T*; with bp (may be NULL) also the bootstrap intervals. F in (0, 1) and
 * both parts non-empty, else TS_ERR_INVALID naming --fit-until.
 */
ts_status ts_lm_calib_heldout(const ts_lm_calib *c, double fit_until, int32_t n_bins,
                              const ts_bootstrap_params *bp, ts_lm_heldout *out, char *err,
                              size_t err_size);

/* ---- scoring a text with the model (src/calib/lm_score.c) ---- */

/* Progress of a long computation: done of total units. Never called concurrently. */
typedef void (*ts_progress_fn)(size_t done, size_t total, void *user);
/*
 * One scored position: logits[n_vocab] predicting ids[position] == target
 * (borrowed until the callback returns). A non-TS_OK return stops scoring.
 */
typedef ts_status (*ts_lm_token_fn)(size_t position, const float *logits, int32_t target,
                                    void *user);

/*
 * Hugging Face's sliding-window perplexity recipe: windows of `window` tokens
 * (0 = the model's n_positions) starting every `stride` tokens (0 = window / 2);
 * every token 1 .. n_ids-1 is scored exactly once, in order, with as much left
 * context as the window allows. ctx: made from model with all_logits = true
 * and n_ctx >= window (its KV cache is reset). progress (may be NULL) after
 * each window. Never prints. Errors: n_ids < 2, stride >= window (a window's
 * first token has no prediction in it, so windows must overlap), a context
 * without all_logits (TS_ERR_INVALID), ts_model_eval's, the callback's
 * (message names the token position).
 */
ts_status ts_lm_score_text(const ts_model *model, ts_context *ctx, const int32_t *ids, size_t n_ids,
                           size_t window, size_t stride, ts_lm_token_fn fn, void *user,
                           ts_progress_fn progress, void *progress_user, char *err,
                           size_t err_size);
/* ts_lm_score_text into the store (ts_lm_calib_add per token; the store needs n_ids - 1 slots). */
ts_status ts_lm_calib_score(const ts_model *model, ts_context *ctx, const int32_t *ids,
                            size_t n_ids, size_t window, size_t stride, ts_lm_calib *store,
                            ts_progress_fn progress, void *progress_user, char *err,
                            size_t err_size);

/* ======================================================================== */
/* Measurement: what temperature does to text (src/measure/)                */
/* ======================================================================== */
/*
 * Library computations behind `tempscale diversity`, `trace` and `map`
 * (issue 13). Formulas and references: docs/science.md. Every figure comes with
 * a seeded percentile bootstrap interval (ts_bootstrap_params above).
 */

/*
 * The samples of one prompt: sample j is tokens[offsets[j], offsets[j+1])
 * (generated tokens only, prompt excluded; whether the end-of-text token is
 * included is the caller's choice, the same for every sample). All arrays are
 * borrowed for the call. logprob / entropy / ended_eot may be NULL: the
 * figures that need them are then NaN.
 */
typedef struct ts_sample_set {
    size_t n_samples;
    const int32_t *tokens; /* [offsets[n_samples]] */
    const size_t *offsets; /* [n_samples + 1], offsets[0] = 0, non-decreasing */
    const double *logprob; /* [offsets[n]] raw log p of each token under the model at T = 1 */
    const double *entropy; /* [offsets[n]] entropy (nats) of the distribution it was drawn from */
    const bool *ended_eot; /* [n_samples] the sample stopped at end-of-text */
} ts_sample_set;

/* Every figure of `diversity` for one prompt and one temperature. */
typedef struct ts_diversity {
    size_t n_samples, n_tokens;
    ts_interval distinct[3]; /* distinct-1, -2, -3: unique n-grams / n-grams, all samples */
    ts_interval self_bleu4;  /* mean BLEU-4 of each sample against the others (NaN if 1 sample) */
    ts_interval repetition4; /* seq-rep-4: mean over samples of 1 - unique 4-grams / 4-grams
                                (samples shorter than 4 tokens excluded) */
    ts_interval nll;         /* nats per token under T = 1, pooled over all tokens */
    ts_interval entropy;     /* mean per-step entropy (nats), pooled over all tokens */
    ts_interval eot_share;   /* share of samples ending in end-of-text */
} ts_diversity;

/*
 * Measure a sample set; intervals from bp's bootstrap over samples (each
 * figure is a ratio of per-sample sums, resampled as such: docs/science.md).
 * Allocates O(tokens) for the n-gram table, freed before returning. Errors:
 * no samples, bad offsets, missing tokens (TS_ERR_INVALID), bad bp.
 */
ts_status ts_diversity_measure(const ts_sample_set *s, const ts_bootstrap_params *bp,
                               ts_diversity *out, char *err, size_t err_size);

/* Per sample (arrays [n_samples], each may be NULL): self-BLEU-4 against the
 * others (NaN for a single sample) and seq-rep-4 (NaN under 4 tokens). */
ts_status ts_diversity_per_sample(const ts_sample_set *s, double *self_bleu4, double *rep4,
                                  char *err, size_t err_size);

/*
 * Coupled mode's divergence curve: curve[k] (k = 0 .. max_k) = share of
 * samples whose first k tokens equal the greedy text's (a sample that ends
 * earlier or later differs at the end; an identical text never diverges), with
 * bootstrap intervals over samples. common_prefix[n_samples] (may be NULL)
 * gets each sample's common prefix length (SIZE_MAX = identical).
 */
ts_status ts_divergence_curve(const int32_t *greedy, size_t n_greedy, const ts_sample_set *s,
                              size_t max_k, const ts_bootstrap_params *bp, ts_interval *curve,
                              size_t *common_prefix, char *err, size_t err_size);

/* ---- trace: one position of a text (src/measure/trace.c) ---- */

/* A truncation setting, with ts_sampler_params' meaning and ranges (0 / 1 / 0 = off). */
typedef struct ts_truncation {
    int32_t top_k;
    double top_p;
    double min_p;
} ts_truncation;

typedef struct ts_token_trace {
    int32_t token;
    size_t rank;        /* 1-based in the sampler's ranking (logit desc, lower id first) */
    double surprisal;   /* -log p(token) under softmax(z), nats */
    double surprisal_t; /* -log p(token) under softmax(z / T) (untruncated), nats */
    double entropy;     /* of softmax(z), nats */
    double entropy_t;   /* of softmax(z / T), nats */
    double temperature; /* the T asked for */
    /* HF order (truncation sees softmax(z / T)): the token survives top-k, top-p
     * and min-p exactly for T > t_min_hf (top-p's bound is strict, min-p's is
     * not: at T = t_min_hf it survives iff only min-p set the bound).
     * 0: at every T > 0; INFINITY: at no T (top-k, or too far down for top-p). */
    double t_min_hf;
    bool survives_hf; /* at the T asked for */
    /* llama.cpp order: truncation runs at T = 1, before temperature, so survival
     * does not depend on T (llama_t_independent is always true: say so).
     * t_min_llama is 0 when it survives, INFINITY when not. At T = 0 both orders
     * keep only the top-ranked token. */
    bool survives_llama;
    double t_min_llama;
    bool llama_t_independent;
} ts_token_trace;

/*
 * Trace one position: logits[n] of the model and the token that followed.
 * T >= 0 (0 greedy, INFINITY uniform). trunc may be NULL (no truncation).
 * Errors: logits as ts_softmax, token out of range or masked (-inf), bad T or
 * truncation values (message names them). No allocation; O(n) per solver step.
 */
ts_status ts_trace_token(const float *logits, size_t n, int32_t token, double temperature,
                         const ts_truncation *trunc, ts_token_trace *out, char *err,
                         size_t err_size);

/* ---- map: truncation x temperature (src/measure/map.c) ---- */

typedef enum ts_map_axis { TS_MAP_TOP_P = 0, TS_MAP_MIN_P = 1, TS_MAP_TOP_K = 2 } ts_map_axis;

/* One cell: what the sampler draws from at (T, value). */
typedef struct ts_map_cell {
    size_t support; /* tokens kept (ts_sampler_apply's n_cands) */
    double entropy; /* nats, of softmax(z / T) renormalised over the kept tokens */
    double mass;    /* probability the kept tokens have under softmax(z / T), untruncated */
} ts_map_cell;

/*
 * The grid temperatures[n_temps] x values[n_values] of one truncation (top-p
 * in (0, 1], min-p in [0, 1), top-k integral >= 0; the others off), in the HF
 * and the llama.cpp order: hf[t * n_values + v], llama[...] (either may be
 * NULL). Agrees with ts_sampler_apply (tests/test_measure.c). Allocates O(n)
 * scratch once (a sort of the logits), then O(n) per temperature and
 * O(log n) per cell.
 */
ts_status ts_map_grid(const float *logits, size_t n, const double *temperatures, size_t n_temps,
                      ts_map_axis axis, const double *values, size_t n_values, ts_map_cell *hf,
                      ts_map_cell *llama, char *err, size_t err_size);

/* ======================================================================== */
/* Plots (src/plot*.c): cairo, format from the extension .png/.svg/.pdf,    */
/* written atomically (temp file + rename).                                 */
/* ======================================================================== */

/* The reliability diagrams (ts_plot_reliability) are declared with calibration above. */

/*
 * The temperature softmax figure: one bar panel per temperature (balanced
 * rows of at most 5 panels, at most ~1500 points wide), softmax(z/T) of the n logits as bars with
 * the probability written above each bar, y from 0 to 1.1, the entropy under
 * each panel (3 significant digits), the T = 1 panel emphasised, and a common
 * title (NULL for the default). labels may be NULL ("token 0", "token 1",
 * ...; a NULL entry likewise). Temperatures follow
 * ts_softmax (0 = argmax, INFINITY = uniform). 1 <= n <= 64,
 * 1 <= n_temps <= 20. Errors name the path (unwritable, unknown extension)
 * or the bad value; no partial file is left.
 */
ts_status ts_plot_softmax_panels(const char *path, const float *logits, size_t n,
                                 const char *const *labels, const double *temperatures,
                                 size_t n_temps, const char *title, char *err, size_t err_size);

/* ---- walkthrough figures (src/plot/plot_sweep.c) ---- */

/*
 * What the sweep figure draws. Zero-initialise, then set the fields.
 * Temperatures follow ts_softmax: 0 = argmax and INFINITY = uniform are drawn
 * at the ends of the entropy axis ("0" and "∞" ticks). Every temperature gets
 * its own colour (T = 1 always the same near-black, thicker; the others cold
 * to hot in order of T) and its own legend entry, in columns below the panels.
 */
typedef struct ts_sweep_figure {
    const double *temperatures; /* [n_temps], >= 0, INFINITY allowed */
    size_t n_temps;             /* >= 1 */
    size_t k;                   /* ranks in the left panel, >= 1 */
    const double *prob;         /* [n_temps * k]: prob[t * k + r] for rank r + 1 */
    bool prob_full;             /* prob is over the full vocabulary (ts_sweep's prob),
                                   not renormalised within the top k (prob_topk); the
                                   panel's title and axis say which */
    const double *entropy_nats; /* [n_temps]: entropy of the full distribution at each T */
    const double *curve_t;      /* [n_curve] smooth entropy curve (T > 0; an INFINITY point */
    const double *curve_h;      /* gives the log V ceiling); both NULL when n_curve = 0 */
    size_t n_curve;
    bool has_target;           /* mark and label a solved target entropy: */
    double target_t, target_h; /* the T whose entropy is target_h nats */
    const char *title;         /* figure title, may be NULL */
} ts_sweep_figure;

/*
 * The sweep figure (2 panels): left, probability vs rank of the top k tokens,
 * one line per temperature; right, entropy (nats) vs temperature on a log
 * axis: the curve, a marker per swept temperature, T = 1 and the uniform
 * ceiling log V marked, and the target (if any) starred and annotated
 * "target H = ... → T = ...". fig is borrowed for the call. TS_ERR_INVALID
 * naming the path for n_temps or k of 0, a NULL array, or a NaN / negative
 * temperature. Format from the extension (.png, .svg, .pdf); written
 * atomically: on any error no file is left at path.
 */
ts_status ts_plot_sweep_figure(const char *path, const ts_sweep_figure *fig, char *err,
                               size_t err_size);

/*
 * The sweep figure from plain arrays: ts_plot_sweep_figure with prob_full
 * false (prob renormalised within the top k, as ts_sweep's prob_topk) and no
 * target. Kept for existing callers.
 */
ts_status ts_plot_sweep(const char *path, const double *temperatures, size_t n_temps, size_t k,
                        const double *prob, const double *entropy_nats, const double *curve_t,
                        const double *curve_h, size_t n_curve, const char *title, char *err,
                        size_t err_size);

/* ---- what temperature does to text (src/plot/plot_frontier.c, plot_divergence.c,
 *      plot_trace.c, plot_map.c) ---- */

/* An estimate with its 95 % interval; lo and hi are NaN when there is none. */
typedef struct ts_plot_value {
    double value, lo, hi;
} ts_plot_value;

/* One point of a quality-diversity frontier: one temperature. */
typedef struct ts_frontier_point {
    double temperature; /* >= 0, INFINITY allowed: the point's label */
    ts_plot_value x;    /* diversity: distinct-2 (or self-BLEU) over the samples */
    ts_plot_value y;    /* quality: mean NLL per token of the samples under T = 1 */
} ts_frontier_point;

/* One curve: a sampler setting swept over temperature. */
typedef struct ts_frontier_curve {
    const char *label;               /* legend: "top-p 0.9", "no truncation" */
    const ts_frontier_point *points; /* [n], joined in order of temperature */
    size_t n;
} ts_frontier_curve;

/*
 * The quality-diversity frontier (Caccia et al. 2020): x = diversity, y = mean
 * NLL under T = 1; per curve its points joined in order of T, each point
 * labelled with its T (T = 1 emphasised), 95 % intervals as whiskers on both
 * axes, one colour per curve with a legend (when n_curves > 1 or a label is
 * set). x_label / y_label NULL: "distinct-2 (unique bigrams / bigrams)" and
 * "mean NLL under T = 1 (nats / token)"; title may be NULL. Points with a
 * non-finite value are skipped. 1 <= n_curves <= 10, each curve n >= 1.
 * Format from the extension; written atomically.
 */
ts_status ts_plot_frontier(const char *path, const ts_frontier_curve *curves, size_t n_curves,
                           const char *x_label, const char *y_label, const char *title, char *err,
                           size_t err_size);

/* One small multiple of ts_plot_metrics: one metric against temperature. */
typedef struct ts_metric_panel {
    const char *name;            /* panel title: "distinct-2", "self-BLEU-4", "EOS share" */
    const char *y_label;         /* unit, may be NULL */
    const ts_plot_value *values; /* [n_series * n_temps]: values[s * n_temps + t];
                                    value NaN = not measured (skipped) */
    bool y_from_zero;            /* start the y axis at 0 (shares, rates) */
} ts_metric_panel;

typedef struct ts_metrics_figure {
    const double *temperatures; /* [n_temps], any order, >= 0, INFINITY allowed */
    size_t n_temps;
    const char *const *series;     /* [n_series] legend labels (truncation settings); may be
                                      NULL when n_series == 1 (no legend) */
    size_t n_series;               /* 1 to 10 */
    const ts_metric_panel *panels; /* [n_panels], 1 to 12 */
    size_t n_panels;
    const char *title; /* may be NULL */
} ts_metrics_figure;

/*
 * Metrics vs temperature as small multiples (up to 4 per row): x =
 * temperature on a log axis (T = 0 and T = inf at its ends), one line with
 * markers per series and its 95 % interval as a shaded band, a shared legend
 * below. fig is borrowed. Format from the extension; written atomically.
 */
ts_status ts_plot_metrics(const char *path, const ts_metrics_figure *fig, char *err,
                          size_t err_size);

typedef struct ts_divergence_figure {
    const double *temperatures; /* [n_temps], >= 0, INFINITY allowed */
    size_t n_temps;
    size_t n_k;             /* tokens measured, >= 1 */
    const double *share;    /* [n_temps * n_k]: share[t * n_k + k - 1], in [0, 1], is
                               the share of samples still equal to the greedy text
                               after k tokens (k = 1..n_k; after 0 tokens it is 1) */
    const double *share_lo; /* same shape: 95 % interval, or both NULL */
    const double *share_hi;
    size_t n_samples;  /* samples per temperature, shown in the subtitle (0: not) */
    const char *title; /* may be NULL */
} ts_divergence_figure;

/*
 * The divergence curve of coupled sampling: per temperature a step curve of
 * the share of samples still equal to the greedy text against tokens
 * generated (a survival curve starting at 1 for k = 0), its interval shaded,
 * temperatures coloured as in the sweep figure with a legend. fig is
 * borrowed. Format from the extension; written atomically.
 */
ts_status ts_plot_divergence(const char *path, const ts_divergence_figure *fig, char *err,
                             size_t err_size);

/* One token of a text traced under the model. */
typedef struct ts_trace_point {
    const char *text; /* the token as UTF-8 (may be NULL: no label) */
    double surprisal; /* -log p(token) under the model at T = 1, nats */
    double entropy;   /* entropy of the model's next-token distribution at T = 1, nats */
    double entropy_t; /* the same at the chosen temperature; NaN = not drawn */
    int64_t rank;     /* rank of the token under the model, 1 = most likely */
} ts_trace_point;

/*
 * The trace figure: along the text (x = token position), the surprisal of
 * each token as a bar shaded by its rank (1, 2-5, 6-20, 21-100, > 100), the
 * entropy at T = 1 as a step line and at `temperature` dashed (when any
 * entropy_t is finite), token labels under the bars while they are legible
 * (rows of at most 64 tokens, up to 10 rows; longer texts are drawn in one
 * panel without labels). Spaces show as "·", newlines as "↵". tokens borrowed.
 * 1 <= n. Format from the extension; written atomically.
 */
ts_status ts_plot_trace(const char *path, const ts_trace_point *tokens, size_t n,
                        double temperature, const char *title, char *err, size_t err_size);

typedef struct ts_map_figure {
    const double *temperatures; /* [n_temps] x: finite, > 0, increasing (log-spaced reads
                                   as a log axis: cells are equal) */
    size_t n_temps;
    const double *params; /* [n_params] y: truncation values, increasing */
    size_t n_params;
    const char *param_name; /* y axis: "top-p", "min-p", "top-k" */
    const double *hf;       /* [n_params * n_temps]: hf[p * n_temps + t], HF order
                               (temperature, then truncation) */
    const double *llama;    /* same shape, llama.cpp order (truncation, then T) */
    const char *value_name; /* colour bar label: "entropy (nats)", "mass kept" */
    bool value_log;         /* log colour scale (support size; values > 0) */
    const char *title;      /* may be NULL */
} ts_map_figure;

/*
 * The truncation x temperature map: two heatmaps (HF order, llama.cpp order)
 * on one colour scale (viridis, one colour bar), then their difference
 * llama.cpp - HF on a diverging scale symmetric about 0 (RdBu, its own colour
 * bar). Cells are equal and in grid order (as seaborn's heatmap), ticked with
 * the grid values, each labelled with its value when it is large enough to
 * hold it. NaN cells are grey. fig is borrowed. TS_ERR_INVALID for an empty or
 * unsorted grid or a temperature <= 0 or infinite. Format from the extension;
 * written atomically.
 */
ts_status ts_plot_truncation_map(const char *path, const ts_map_figure *fig, char *err,
                                 size_t err_size);

/* ======================================================================== */
/* Hugging Face hub cache and downloads (src/hub/hub.c)                         */
/* ======================================================================== */

/*
 * Models by name, in huggingface_hub's own cache layout (docs/hub.md):
 *   <cache>/models--{org}--{name}/refs/{revision}         commit hash, no newline
 *   <cache>/models--{org}--{name}/blobs/{etag}            file contents
 *   <cache>/models--{org}--{name}/snapshots/{commit}/{f}  -> ../../blobs/{etag}
 * so a model that transformers downloaded is used in place, and a model that
 * `tempscale pull` downloaded is found by transformers.
 */
#define TS_HUB_PATH_MAX 4096

/*
 * The cache root, as huggingface_hub computes it: $HF_HUB_CACHE, else
 * $HUGGINGFACE_HUB_CACHE (legacy), else $HF_HOME/hub, else
 * $XDG_CACHE_HOME/huggingface/hub, else $HOME/.cache/huggingface/hub (a
 * leading "~/" is expanded). The directory need not exist.
 */
ts_status ts_hub_cache_dir(char *out, size_t out_size, char *err, size_t err_size);

/*
 * Split "org/name@revision" (or "name", "org/name", "name@rev") into a repo
 * id and a revision ("main" when absent) and validate both as the hub does:
 * one or two parts of [A-Za-z0-9._-], no "--" or "..", at most 96 chars;
 * revisions without ".." components or a leading '/'. TS_ERR_INVALID otherwise.
 */
ts_status ts_hub_parse_spec(const char *spec, char *repo_id, size_t repo_size, char *revision,
                            size_t rev_size, char *err, size_t err_size);

/* True when s looks like a repo id (optionally with @revision), not a path. */
bool ts_hub_is_repo_spec(const char *s);

/*
 * Find repo_id at revision (NULL = "main"; a 40-hex commit is used as is,
 * else refs/{revision} gives the commit) in cache_dir (NULL = ts_hub_cache_dir)
 * and write its snapshot directory into dir_out. The snapshot must hold
 * config.json, vocab.json, merges.txt and model.safetensors (or the index and
 * every shard it names). Never touches the network. TS_ERR_NOT_FOUND with a
 * message naming what is missing and "run 'tempscale pull ID'".
 */
ts_status ts_hub_resolve_cached(const char *cache_dir, const char *repo_id, const char *revision,
                                char *dir_out, size_t dir_size, char *err, size_t err_size);

typedef struct ts_hub_pull_params {
    const char *repo_id;    /* "gpt2", "openai-community/gpt2" (required) */
    const char *revision;   /* branch, tag or commit; NULL = "main" */
    const char *cache_dir;  /* NULL = ts_hub_cache_dir() */
    const char *endpoint;   /* NULL = $HF_ENDPOINT, else https://huggingface.co */
    const char *token;      /* NULL = $HF_TOKEN, else the token file `huggingface-cli login`
                               wrote ($HF_TOKEN_PATH, $HF_HOME/token); "" = none.
                               Sent as Authorization: Bearer. */
    int offline;            /* -1 = from $HF_HUB_OFFLINE / $TRANSFORMERS_OFFLINE, 0 no, 1 yes */
    long timeout_s;         /* default of the two below, and how long to wait for another
                               download's lock on a blob; 0 = 30 s */
    long connect_timeout_s; /* TCP + TLS connect, per request; 0 = timeout_s */
    long stall_timeout_s;   /* a transfer averaging under 1 KiB/s for this long fails, and
                              each metadata request (API answer, HEAD) must end within
                              connect + stall seconds; 0 = timeout_s */
} ts_hub_pull_params;

/* repo_id NULL, revision "main", everything else from the environment. */
ts_hub_pull_params ts_hub_pull_default_params(void);

typedef enum ts_hub_event {
    TS_HUB_EV_FILE_CACHED = 0, /* already in the cache: nothing to fetch */
    TS_HUB_EV_FILE_START = 1,  /* a download starts (done = bytes resumed) */
    TS_HUB_EV_FILE_BYTES = 2,  /* more bytes arrived */
    TS_HUB_EV_FILE_DONE = 3,   /* verified and moved into blobs/ */
} ts_hub_event;

typedef struct ts_hub_progress {
    ts_hub_event event;
    const char *file;  /* name in the repo, borrowed for the call */
    size_t file_index; /* 0-based, of n_files */
    size_t n_files;
    uint64_t done, total;  /* bytes of this file (total 0 when unknown) */
    uint64_t resumed_from; /* bytes already on disk when the download started */
} ts_hub_progress;

/* Called from inside ts_hub_pull on the caller's thread; must not call back into hub. */
typedef void (*ts_hub_progress_fn)(const ts_hub_progress *p, void *user);

typedef struct ts_hub_pull_result {
    char commit[41]; /* resolved commit hash */
    char snapshot_dir[TS_HUB_PATH_MAX];
    size_t n_files;            /* files in the snapshot we need */
    size_t n_downloaded;       /* blobs fetched by this call */
    uint64_t bytes_downloaded; /* body bytes received by this call */
    bool resumed;              /* some download continued a .incomplete file */
    bool up_to_date;           /* nothing was downloaded */
    bool offline;              /* answered from the cache with no network request */
} ts_hub_pull_result;

/*
 * Download config.json, vocab.json, merges.txt and model.safetensors (or
 * model.safetensors.index.json and its shards) of a model repository into the
 * cache, exactly as huggingface_hub's hf_hub_download would lay them out:
 * blobs named by etag (sha256 for LFS files, git sha1 otherwise), downloaded
 * into blobs/{etag}.incomplete (resumed with HTTP Range), verified against the
 * etag, then renamed; snapshot symlinks and refs/{revision} are written only
 * once every blob is in place. A pull of a complete snapshot downloads
 * nothing. Offline (HF_HUB_OFFLINE=1) it only resolves from the cache.
 * The server is not trusted (docs/security.md): only http(s) URLs are
 * requested (plain http only when the endpoint is http or the host is
 * loopback), redirects are checked one by one, the token goes only to the
 * endpoint's host, an etag that is not a sha256 / git sha1 is refused (every
 * file is verified), a download stops at its announced size and must fit the
 * free disk space, shard names follow the loader's rule, and every message
 * quoting the server escapes control characters.
 * Errors: TS_ERR_NOT_FOUND (repository / revision / file), TS_ERR_AUTH (401 /
 * 403), TS_ERR_UNSUPPORTED (no safetensors weights: pickle files are never
 * loaded), TS_ERR_NETWORK (curl's message, a stall, a refused redirect),
 * TS_ERR_IO (disk full, unwritable cache, another download holding the blob's
 * lock), TS_ERR_FORMAT (checksum mismatch, more bytes than announced, an
 * answer that cannot be verified). progress may be NULL. The library prints
 * nothing.
 */
ts_status ts_hub_pull(const ts_hub_pull_params *params, ts_hub_progress_fn progress, void *user,
                      ts_hub_pull_result *out, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif /* TEMPSCALE_H */

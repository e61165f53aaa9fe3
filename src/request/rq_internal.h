/*
 * rq_internal.h — what the request layer's files (src/request/) share: the
 * field tables that drive CLI parsing, JSON parsing, validation, --help and
 * command-line reconstruction; the analysis descriptor (a small function
 * table per analysis); sessions' slots; JSON and token-display helpers.
 * Not installed. The public contract is include/tempscale_request.h.
 */
#ifndef TS_RQ_INTERNAL_H
#define TS_RQ_INTERNAL_H

#include "internal.h"
#include "tempscale_request.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stddef.h>

/* ---- strings ------------------------------------------------------------- */

/* printf into a malloc'd string; NULL when out of memory. */
char *rq_vstrdupf(const char *fmt, va_list ap);
char *rq_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growing NUL-terminated buffer; out of memory is sticky. {0} is empty. */
typedef struct rq_buf {
    char *p;
    size_t n, cap;
    bool oom;
} rq_buf;
void rq_buf_put(rq_buf *b, const char *s, size_t n);
void rq_buf_puts(rq_buf *b, const char *s);
void rq_buf_printf(rq_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Shell-quote s (single quotes unless it is plain) onto b. */
void rq_buf_shell_quote(rq_buf *b, const char *s);

/* ---- field values -------------------------------------------------------- */

/* A byte string (may hold NUL bytes; s is NUL-terminated too). NULL s = unset. */
typedef struct rq_str {
    char *s;
    size_t n;
} rq_str;
typedef struct rq_doubles {
    double *v;
    size_t n;
} rq_doubles;
typedef struct rq_ids {
    int32_t *v;
    size_t n;
} rq_ids;
typedef struct rq_strings {
    char **v;
    size_t n;
} rq_strings;
typedef struct rq_bias {
    ts_logit_bias *v;
    size_t n;
} rq_bias;

/*
 * One field of an analysis' request struct: the public description plus
 * where the value lives and what it may be. Storage by type: BOOL bool,
 * INT int64_t (or int32_t when i32), U64 uint64_t, DOUBLE double, STRING
 * rq_str (owned), ENUM int, DOUBLES and FLOATS rq_doubles (FLOATS fit float32), IDS rq_ids,
 * STRINGS rq_strings, BIAS rq_bias.
 */
typedef struct rq_field {
    ts_field_info info;
    size_t off;
    bool i32;        /* INT stored as int32_t */
    double min, max; /* numeric bounds (also per list item) */
    bool min_open, max_open;
    bool allow_neg_inf; /* FLOATS: "-inf" items (masked logits) */
    const char *hint;   /* appended to range errors: "(0 = greedy)" */
    size_t max_items;   /* lists: 0 = unlimited */
} rq_field;

#define RQ_MAX_FIELDS 96
/* A field of the sampler chain (a diversity curve may change it). */
#define RQ_FIELD_SAMPLER 0x100u

/* ---- sessions ------------------------------------------------------------ */

typedef struct rq_slot {
    ts_context *ctx;
    ts_generator *gen;
    bool busy;
} rq_slot;

/* Borrow a free slot (waiting as ts_run_opts.slot_timeout_ms says); TS_ERR_BUSY otherwise. */
ts_status rq_session_acquire(ts_session *s, int timeout_ms, rq_slot **out, char *err,
                             size_t err_size);
void rq_session_release(ts_session *s, rq_slot *slot);

/* ---- analyses ------------------------------------------------------------ */

/* What a run gets besides the request. */
typedef struct rq_run {
    ts_session *session;
    rq_slot *slot;             /* NULL unless the analysis needs the model */
    const ts_model_info *info; /* NULL unless the analysis needs the model */
    const ts_tokenizer *tok;   /* NULL for TS_NEEDS_NOTHING */
    const ts_run_opts *opts;   /* never NULL (defaults) */
    const ts_request *req;
    bool cancelled;
    bool long_prompts_ok; /* context_shift: a prompt may exceed the window */
    rq_strings warnings;  /* moved into the result */
} rq_run;

/* Add a warning to the result ("prompt: ... capped"); out of memory drops it. */
void rq_warn(rq_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Report an event (and render it live); false when the caller cancelled. */
bool rq_emit(rq_run *run, const ts_event *ev);

struct ts_analysis {
    const char *name;
    const char *route; /* "/api/top", or NULL */
    const char *summary;
    ts_needs needs;
    const rq_field *fields;
    size_t n_fields;
    size_t req_size;
    /* Defaults into a zeroed request struct (fields left 0 need nothing). */
    void (*init)(void *req);
    /* What this request needs when it depends on its fields (may be NULL: a->needs). */
    ts_needs (*needs_of)(const ts_request *r);
    /* Checks across fields that need no model (may be NULL). */
    ts_status (*check)(const ts_request *r, char *err, size_t err_size);
    /* Compute: *res is the analysis' result struct (freed by free_result). */
    ts_status (*run)(rq_run *run, void **res, char *err, size_t err_size);
    void (*free_result)(void *res);
    cJSON *(*json)(const ts_result *res);
    void (*doc)(const ts_result *res, ts_doc *doc, bool live);
    /* Live rendering of one event (may be NULL). */
    void (*doc_event)(const ts_request *r, const ts_tokenizer *tok, const ts_event *ev,
                      ts_doc *doc);
    ts_status (*plot)(const ts_result *res, const char *path, const char *title, char *err,
                      size_t err_size); /* may be NULL: figure 0 */
    /* More figures (may be NULL): how many this result has in all, the file-name suffix
     * of figure i >= 1 ("metrics"), and drawing it. */
    size_t (*n_figures)(const ts_result *res);
    const char *(*figure_name)(const ts_result *res, size_t i);
    ts_status (*plot_extra)(const ts_result *res, size_t i, const char *path, char *err,
                            size_t err_size);
};

struct ts_request {
    const ts_analysis *a;
    void *data;                 /* a->req_size bytes: the analysis' request struct */
    uint8_t set[RQ_MAX_FIELDS]; /* which fields were given */
};

struct ts_result {
    const ts_analysis *a;
    ts_request *req;           /* a copy of the request that produced it */
    const ts_tokenizer *tok;   /* borrowed from the session (free results first) */
    const ts_model_info *info; /* borrowed; NULL without a model */
    char *model_dir;
    char *model_name;
    rq_strings warnings;
    void *data;
};

/* The analysis' request struct, typed. */
#define RQ_REQ(r, type) ((const type *)(r)->data)

/* ---- fields (field.c) ---------------------------------------------------- */

/* Field index by JSON or CLI name; -1 when unknown. */
int rq_field_index(const ts_analysis *a, const char *name);
void rq_request_clear(ts_request *r);
ts_status rq_request_clone(const ts_request *r, ts_request **out);
/* Set field i from its JSON value (cJSON). */
ts_status rq_field_set_json(ts_request *r, int i, const cJSON *v, char *err, size_t err_size);
/* Range check of one number against field f ("name: v is outside [a, b] hint"). */
ts_status rq_check_range(const rq_field *f, double v, const char *item, char *err, size_t err_size);
bool rq_is_set(const ts_request *r, const char *name);
/* ts_request_from_json on an already parsed object. */
ts_status rq_request_from_object(const ts_analysis *a, const cJSON *root, ts_request **out,
                                 char *err, size_t err_size);

/* ---- analyses (one file each: a_<name>.c) --------------------------------- */

extern const ts_analysis rq_softmax, rq_tokenize, rq_top, rq_sample, rq_sweep, rq_generate,
    rq_compare, rq_calibrate, rq_diversity, rq_trace, rq_map;
/* POST /v1/completions (a_completions.c): not a CLI command. */
extern const ts_analysis rq_completions;
/* "cmpl-" + 16 random hex digits. */
void rq_completion_id(char *out, size_t size);
/* One Server-Sent-Events chunk of a streamed completion (malloc'd JSON). */
char *rq_completion_chunk(const char *id, long long created, const char *model, size_t index,
                          const char *text, size_t len, const char *finish_reason);

/* ---- shared pieces of the model analyses (common.c) ---------------------- */

/* The fields every prompt-taking analysis has: "prompt" and "ids". */
#define RQ_PROMPT_FIELDS(ST)                                                                       \
    {.info = {.name = "prompt",                                                                    \
              .type = TS_FIELD_STRING,                                                             \
              .metavar = "TEXT",                                                                   \
              .def = "\"" RQ_DEFAULT_PROMPT "\"",                                                  \
              .help = "text to condition on"},                                                     \
     .off = offsetof(ST, prompt)},                                                                 \
    {                                                                                              \
        .info = {.name = "ids",                                                                    \
                 .type = TS_FIELD_IDS,                                                             \
                 .metavar = "LIST",                                                                \
                 .help = "comma-separated token ids instead of a prompt"},                         \
        .off = offsetof(ST, ids), .max = 2147483647.0                                              \
    }

/* The seed notebook's prompt, the default of every walkthrough analysis. */
#define RQ_DEFAULT_PROMPT "In the future, AI will"

/*
 * The prompt as token ids: ids if given, else prompt (unset: RQ_DEFAULT_PROMPT).
 * Checks: not both, non-empty, ids in the vocabulary, at most n_ctx tokens.
 * *out is malloc'd. Messages name "prompt" / "ids".
 */
ts_status rq_prompt_ids(const rq_run *run, const rq_str *prompt, const rq_ids *ids, int32_t **out,
                        size_t *n, char *err, size_t err_size);
/* Same for one prompt text (len bytes; compare's list items), messages naming field. */
ts_status rq_encode_prompt(const rq_run *run, const char *field, const char *prompt, size_t len,
                           int32_t **out, size_t *n, char *err, size_t err_size);

/*
 * The sampler chain's fields, for analyses whose request struct has a
 * ts_sampler_params member `sp` (the seed is a field of its own).
 */
extern const char *const rq_order_names[];
#define RQ_SAMPLER_T_FIELD(ST)                                                                     \
    {                                                                                              \
        .info = {.name = "temperature",                                                            \
                 .type = TS_FIELD_DOUBLE,                                                          \
                 .metavar = "T",                                                                   \
                 .def = "1",                                                                       \
                 .help = ">= 0; 0 = greedy (always the most likely token), inf = uniform"},        \
        .off = offsetof(ST, sp.temperature), .min = 0, .max = INFINITY,                            \
        .hint = "(use 0 for greedy, inf for uniform)"                                              \
    }
#define RQ_SAMPLER_TRUNC_FIELDS(ST)                                                                \
    {.info = {.name = "top_k",                                                                     \
              .type = TS_FIELD_INT,                                                                \
              .metavar = "K",                                                                      \
              .def = "50",                                                                         \
              .help = "keep the K most likely tokens (0 = off)",                                   \
              .flags = RQ_FIELD_SAMPLER},                                                          \
     .off = offsetof(ST, sp.top_k),                                                                \
     .i32 = true,                                                                                  \
     .min = 0,                                                                                     \
     .max = 2147483647.0},                                                                         \
        {.info = {.name = "top_p",                                                                 \
                  .type = TS_FIELD_DOUBLE,                                                         \
                  .metavar = "P",                                                                  \
                  .def = "1",                                                                      \
                  .help = "keep the smallest set with mass >= P (1 = off)",                        \
                  .flags = RQ_FIELD_SAMPLER},                                                      \
         .off = offsetof(ST, sp.top_p),                                                            \
         .min = 0,                                                                                 \
         .max = 1,                                                                                 \
         .min_open = true},                                                                        \
        {.info = {.name = "min_p",                                                                 \
                  .type = TS_FIELD_DOUBLE,                                                         \
                  .metavar = "M",                                                                  \
                  .def = "0",                                                                      \
                  .help = "drop tokens below M x p(top token) (0 = off)",                          \
                  .flags = RQ_FIELD_SAMPLER},                                                      \
         .off = offsetof(ST, sp.min_p),                                                            \
         .min = 0,                                                                                 \
         .max = 1,                                                                                 \
         .max_open = true},                                                                        \
    {                                                                                              \
        .info = {.name = "order",                                                                  \
                 .type = TS_FIELD_ENUM,                                                            \
                 .metavar = "hf|llama",                                                            \
                 .def = "hf",                                                                      \
                 .help = "hf: temperature, then truncation; llama: truncation at T = 1, then T",   \
                 .choices = rq_order_names,                                                        \
                 .flags = RQ_FIELD_SAMPLER},                                                       \
        .off = offsetof(ST, sp.order)                                                              \
    }
/* Every other step of the chain (docs/sampling.md), for `sp` and a rq_bias `bias`. */
#define RQ_SAMPLER_MORE_FIELDS(ST)                                                                 \
    {.info = {.name = "repetition_penalty",                                                        \
              .type = TS_FIELD_DOUBLE,                                                             \
              .metavar = "R",                                                                      \
              .def = "1",                                                                          \
              .help = "divide (multiply if < 0) the scores of tokens seen (1 = off)",              \
              .flags = RQ_FIELD_SAMPLER},                                                          \
     .off = offsetof(ST, sp.repetition_penalty),                                                   \
     .min = 0,                                                                                     \
     .max = 1e9,                                                                                   \
     .min_open = true},                                                                            \
        {.info = {.name = "penalty_last_n",                                                        \
                  .type = TS_FIELD_INT,                                                            \
                  .metavar = "N",                                                                  \
                  .def = "64",                                                                     \
                  .help = "llama order: penalise the last N tokens (-1 = all, 0 = none)",          \
                  .flags = RQ_FIELD_SAMPLER},                                                      \
         .off = offsetof(ST, sp.penalty_last_n),                                                   \
         .i32 = true,                                                                              \
         .min = -1,                                                                                \
         .max = 2147483647.0},                                                                     \
        {.info = {.name = "presence_penalty",                                                      \
                  .type = TS_FIELD_DOUBLE,                                                         \
                  .metavar = "A",                                                                  \
                  .def = "0",                                                                      \
                  .help = "OpenAI: subtract A from tokens already generated",                      \
                  .flags = RQ_FIELD_SAMPLER},                                                      \
         .off = offsetof(ST, sp.presence_penalty),                                                 \
         .min = -2,                                                                                \
         .max = 2},                                                                                \
        {.info = {.name = "frequency_penalty",                                                     \
                  .type = TS_FIELD_DOUBLE,                                                         \
                  .metavar = "A",                                                                  \
                  .def = "0",                                                                      \
                  .help = "OpenAI: subtract A x (times generated)",                                \
                  .flags = RQ_FIELD_SAMPLER},                                                      \
         .off = offsetof(ST, sp.frequency_penalty),                                                \
         .min = -2,                                                                                \
         .max = 2},                                                                                \
        {.info = {.name = "no_repeat_ngram_size",                                                  \
                  .type = TS_FIELD_INT,                                                            \
                  .metavar = "N",                                                                  \
                  .def = "0",                                                                      \
                  .help = "HF: never repeat an n-gram of this size (0 = off)",                     \
                  .flags = RQ_FIELD_SAMPLER},                                                      \
         .off = offsetof(ST, sp.no_repeat_ngram_size),                                             \
         .i32 = true,                                                                              \
         .min = 0,                                                                                 \
         .max = 1 << 20},                                                                          \
        {.info = {.name = "logit_bias",                                                            \
                  .type = TS_FIELD_BIAS,                                                           \
                  .metavar = "ID:BIAS,...",                                                        \
                  .help = "add BIAS to token ID's logit (-inf bans it); JSON {\"ID\": BIAS}",      \
                  .flags = RQ_FIELD_SAMPLER},                                                      \
         .off = offsetof(ST, bias),                                                                \
         .min = -INFINITY,                                                                         \
         .max = INFINITY,                                                                          \
         .allow_neg_inf = true,                                                                    \
         .max_items = 1024},                                                                       \
        {.info = {.name = "typical_p",                                                             \
                  .type = TS_FIELD_DOUBLE,                                                         \
                  .metavar = "P",                                                                  \
                  .def = "1",                                                                      \
                  .help = "locally typical sampling: keep mass P nearest the entropy (1 = off)",   \
                  .flags = RQ_FIELD_SAMPLER},                                                      \
         .off = offsetof(ST, sp.typical_p),                                                        \
         .min = 0,                                                                                 \
         .max = 1,                                                                                 \
         .min_open = true},                                                                        \
        {.info = {.name = "epsilon_cutoff",                                                        \
                  .type = TS_FIELD_DOUBLE,                                                         \
                  .metavar = "E",                                                                  \
                  .def = "0",                                                                      \
                  .help = "HF: drop tokens with p < E (0 = off)",                                  \
                  .flags = RQ_FIELD_SAMPLER},                                                      \
         .off = offsetof(ST, sp.epsilon_cutoff),                                                   \
         .min = 0,                                                                                 \
         .max = 1,                                                                                 \
         .max_open = true},                                                                        \
        {.info = {.name = "eta_cutoff",                                                            \
                  .type = TS_FIELD_DOUBLE,                                                         \
                  .metavar = "E",                                                                  \
                  .def = "0",                                                                      \
                  .help = "HF: drop p < min(E, sqrt(E) exp(-H)) (0 = off)",                        \
                  .flags = RQ_FIELD_SAMPLER},                                                      \
         .off = offsetof(ST, sp.eta_cutoff),                                                       \
         .min = 0,                                                                                 \
         .max = 1,                                                                                 \
         .max_open = true},                                                                        \
        {.info = {.name = "top_n_sigma",                                                           \
                  .type = TS_FIELD_DOUBLE,                                                         \
                  .metavar = "N",                                                                  \
                  .def = "-1",                                                                     \
                  .help = "llama.cpp: keep scores within N std of the max (<= 0 = off)",           \
                  .flags = RQ_FIELD_SAMPLER},                                                      \
         .off = offsetof(ST, sp.top_n_sigma),                                                      \
         .min = -1e9,                                                                              \
         .max = 1e9},                                                                              \
        {.info = {.name = "xtc_probability",                                                       \
                  .type = TS_FIELD_DOUBLE,                                                         \
                  .metavar = "P",                                                                  \
                  .def = "0",                                                                      \
                  .help = "llama.cpp XTC: with chance P drop the top tokens above the threshold",  \
                  .flags = RQ_FIELD_SAMPLER},                                                      \
         .off = offsetof(ST, sp.xtc_probability),                                                  \
         .min = 0,                                                                                 \
         .max = 1},                                                                                \
        {.info = {.name = "xtc_threshold",                                                         \
                  .type = TS_FIELD_DOUBLE,                                                         \
                  .metavar = "T",                                                                  \
                  .def = "0.1",                                                                    \
                  .help = "XTC threshold (> 0.5 = off)",                                           \
                  .flags = RQ_FIELD_SAMPLER},                                                      \
         .off = offsetof(ST, sp.xtc_threshold),                                                    \
         .min = 0,                                                                                 \
         .max = 1},                                                                                \
        {.info = {.name = "dynatemp_range",                                                        \
                  .type = TS_FIELD_DOUBLE,                                                         \
                  .metavar = "R",                                                                  \
                  .def = "0",                                                                      \
                  .help = "llama.cpp dynamic temperature: T in temperature +- R by entropy",       \
                  .flags = RQ_FIELD_SAMPLER},                                                      \
         .off = offsetof(ST, sp.dynatemp_range),                                                   \
         .min = 0,                                                                                 \
         .max = 1e9},                                                                              \
        {.info = {.name = "dynatemp_exponent",                                                     \
                  .type = TS_FIELD_DOUBLE,                                                         \
                  .metavar = "X",                                                                  \
                  .def = "1",                                                                      \
                  .help = "dynamic temperature exponent",                                          \
                  .flags = RQ_FIELD_SAMPLER},                                                      \
         .off = offsetof(ST, sp.dynatemp_exponent),                                                \
         .min = 0,                                                                                 \
         .max = 1e9},                                                                              \
        {.info = {.name = "target_entropy",                                                        \
                  .type = TS_FIELD_DOUBLE,                                                         \
                  .metavar = "H",                                                                  \
                  .def = "-1",                                                                     \
                  .help = "solve T each step for this entropy in nats (-1 = off)",                 \
                  .flags = RQ_FIELD_SAMPLER},                                                      \
         .off = offsetof(ST, sp.target_entropy),                                                   \
         .min = -1,                                                                                \
         .max = 1e6},                                                                              \
        {.info = {.name = "mirostat",                                                              \
                  .type = TS_FIELD_INT,                                                            \
                  .metavar = "0|1|2",                                                              \
                  .def = "0",                                                                      \
                  .help = "Mirostat v1 / v2 (Basu et al. 2020): target a surprisal (0 = off)",     \
                  .flags = RQ_FIELD_SAMPLER},                                                      \
         .off = offsetof(ST, sp.mirostat),                                                         \
         .i32 = true,                                                                              \
         .min = 0,                                                                                 \
         .max = 2},                                                                                \
        {.info = {.name = "mirostat_tau",                                                          \
                  .type = TS_FIELD_DOUBLE,                                                         \
                  .metavar = "BITS",                                                               \
                  .def = "5",                                                                      \
                  .help = "Mirostat target surprisal, bits",                                       \
                  .flags = RQ_FIELD_SAMPLER},                                                      \
         .off = offsetof(ST, sp.mirostat_tau),                                                     \
         .min = 0,                                                                                 \
         .max = 1e9,                                                                               \
         .min_open = true},                                                                        \
    {                                                                                              \
        .info = {.name = "mirostat_eta",                                                           \
                 .type = TS_FIELD_DOUBLE,                                                          \
                 .metavar = "ETA",                                                                 \
                 .def = "0.1",                                                                     \
                 .help = "Mirostat learning rate",                                                 \
                 .flags = RQ_FIELD_SAMPLER},                                                       \
        .off = offsetof(ST, sp.mirostat_eta), .min = 0, .max = 1e9                                 \
    }
#define RQ_SAMPLER_FIELDS(ST)                                                                      \
    RQ_SAMPLER_T_FIELD(ST), RQ_SAMPLER_TRUNC_FIELDS(ST), RQ_SAMPLER_MORE_FIELDS(ST)

/* Generation controls, for members stop (rq_strings), min_new_tokens, ignore_eos,
 * context_shift. */
#define RQ_GEN_FIELDS(ST)                                                                          \
    {.info = {.name = "stop",                                                                      \
              .type = TS_FIELD_STRINGS,                                                            \
              .metavar = "TEXT",                                                                   \
              .help = "stop before this text (repeat for up to 4)",                                \
              .flags = TS_FIELD_REPEAT},                                                           \
     .off = offsetof(ST, stop),                                                                    \
     .max_items = 4},                                                                              \
        {.info = {.name = "min_new_tokens",                                                        \
                  .type = TS_FIELD_INT,                                                            \
                  .metavar = "N",                                                                  \
                  .def = "0",                                                                      \
                  .help = "<|endoftext|> cannot come before N new tokens"},                        \
         .off = offsetof(ST, min_new_tokens),                                                      \
         .min = 0,                                                                                 \
         .max = 1 << 20},                                                                          \
        {.info = {.name = "ignore_eos",                                                            \
                  .type = TS_FIELD_BOOL,                                                           \
                  .help = "never draw <|endoftext|> (llama.cpp --ignore-eos)"},                    \
         .off = offsetof(ST, ignore_eos)},                                                         \
    {                                                                                              \
        .info = {.name = "context_shift",                                                          \
                 .type = TS_FIELD_BOOL,                                                            \
                 .help = "at the context window keep its last half and go on (llama.cpp)"},        \
        .off = offsetof(ST, context_shift)                                                         \
    }

/*
 * The sampler parameters of a request: sp with the bias list and the history
 * window (n_ctx) filled in. *out borrows bias.
 */
void rq_sampler_params(const rq_run *run, const ts_sampler_params *sp, const rq_bias *bias,
                       ts_sampler_params *out);
/* The generation controls of RQ_GEN_FIELDS into gp (stop borrowed from the request). */
void rq_gen_controls(const rq_strings *stop, int64_t min_new_tokens, bool ignore_eos,
                     bool context_shift, ts_gen_params *gp);

/* top_k <= the vocabulary, and what ts_sampler_new checks, named by field. */
ts_status rq_check_sampler(const rq_run *run, const ts_sampler_params *sp, char *err,
                           size_t err_size);

/* One generated sequence, step by step (what a TOKEN event reported). */
typedef struct rq_seq {
    int32_t *ids;
    double *prob, *entropy, *temperature;
    size_t *n_cands;
    size_t *off; /* [n + 1]: byte offset of each step's text in text */
    size_t n, cap;
    char *text; /* valid UTF-8, NUL-terminated */
    size_t len, text_cap;
    bool eot;
    const char *finish_reason; /* "stop" | "length" (static) */
    ts_gen_result result;
    /* with logprobs: per step raw / processed log-prob and entropy, and n_top alternatives */
    bool has_logprobs;
    size_t n_top; /* alternatives kept per step (top_logprobs) */
    double *lp_raw, *h_raw, *lp;
    ts_token_logprob *top_raw, *top; /* [cap * n_top] */
    size_t *n_top_raw_at, *n_top_at;
} rq_seq;
void rq_seq_free(rq_seq *q);
/* Run the generator into q, emitting BEGIN / TOKEN / END events shaped by tmpl
 * (indices, temperature and the prompt ids, which every event carries). With a
 * reference sequence ref (compare's greedy text), the END event says where q
 * first leaves it (diverges_at, diverge_offset). */
ts_status rq_seq_generate(rq_run *run, ts_sampler *sampler, const ts_gen_params *gp, rq_seq *q,
                          const ts_event *tmpl, const rq_seq *ref, char *err, size_t err_size);
/* The step of q at index i as the generator reported it (text borrowed from q). */
ts_gen_step rq_seq_step(const rq_seq *q, size_t i);
/* One generation step as JSON (id, token, prob, entropy, temperature, and the
 * raw / sampled log-probs and alternatives when it has them). */
cJSON *rq_json_step(const ts_tokenizer *tok, const ts_gen_step *s);
/* Index of the first step where a and b differ; -1 when equal. */
long rq_seq_diverges(const rq_seq *a, const rq_seq *b);

/* k in [1, n_vocab]: "k: 60000 is outside [1, 50257] (the vocabulary size)". */
ts_status rq_check_k(const rq_run *run, const char *field, int64_t k, char *err, size_t err_size);

/* A token's bytes as valid UTF-8 (ts_utf8_replace) into a malloc'd string. */
char *rq_token_utf8(const ts_tokenizer *tok, int32_t id);
/* Any bytes as valid UTF-8, malloc'd. */
char *rq_bytes_utf8(const char *s, size_t len);
/* The decoded text of ids (valid UTF-8), malloc'd. */
char *rq_ids_text(const ts_tokenizer *tok, const int32_t *ids, size_t n);
/* The token quoted for a table cell ('·the', '\n') into buf. */
const char *rq_token_display(const ts_tokenizer *tok, int32_t id, char *buf, size_t size);

/* JSON helpers. A number, "inf" / "-inf" for infinities. */
cJSON *rq_json_number(double v);
cJSON *rq_json_ids(const int32_t *ids, size_t n);
/* "id" and "token" (valid UTF-8) of a token, added to object o. */
void rq_json_add_token(cJSON *o, const ts_tokenizer *tok, int32_t id);
/* [{"rank","id","token","logit","prob","prob_topk"}] of the top k. */
cJSON *rq_json_topk(const ts_tokenizer *tok, const float *logits, const int32_t *top,
                    const double *prob, const double *prob_topk, size_t k);

/* Number formats shared by the tables: "%.4f", tiny non-zero values as "%.1e". */
void rq_fmt_prob(char *buf, size_t size, double p);
/* "0.5", "inf" */
void rq_fmt_temp(char *buf, size_t size, double t);

/* Append a table row: rank (1-based) and the token's display string. */
size_t rq_table_token_row(ts_doc_table *t, ts_style style, size_t rank, const ts_tokenizer *tok,
                          int32_t id);

#endif /* TS_RQ_INTERNAL_H */

/*
 * tempscale_request.h — the request layer of libtempscale: every analysis
 * (softmax, tokenize, top, sample, sweep, generate, compare, calibrate, ...)
 * as request -> validate -> run -> result -> renderers.
 *
 *   request   filled from CLI option text (ts_request_set) or from a JSON
 *             object with the same field names (ts_request_from_json); each
 *             field is validated where it is set, with one message for both
 *   run       ts_request_run: computes on a session (one model shared
 *             read-only, a pool of contexts), never prints, exits or aborts;
 *             streaming analyses report events (tokens, progress) to a callback
 *   result    rendered by ts_result_json (the ONE JSON of an analysis: the
 *             CLI's --json, the HTTP API and `tempscale batch` print these
 *             bytes), ts_result_doc (a document model that the terminal and
 *             the HTML report render) and ts_result_plot (a figure)
 *   api       ts_api_handle: HTTP-shaped dispatch of /v1/... and /api/...
 *             used by the server and by `tempscale batch`, so the two cannot
 *             disagree
 *
 * Conventions are those of tempscale.h: ts_status returns, one-line messages
 * in caller buffers, who creates frees, ts_x_free(NULL) is a no-op.
 * Validation messages start with the snake_case name of the field they are
 * about ("top_p: 1.5 is outside (0, 1]"); front ends may respell that prefix
 * (the CLI shows "option --top-p: ...", the API puts the name in "param").
 * docs/architecture.md explains the layer and how to add an analysis.
 */
#ifndef TEMPSCALE_REQUEST_H
#define TEMPSCALE_REQUEST_H

#include "tempscale.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================== */
/* Sessions: one model shared read-only + a pool of contexts                */
/* ======================================================================== */
typedef struct ts_session ts_session;

typedef struct ts_session_params {
    const char *model_dir;    /* checkpoint directory (config.json, safetensors, vocab, merges) */
    const char *model_name;   /* name in results and /v1/models; NULL = model_dir's base name */
    bool tokenizer_only;      /* load vocab.json + merges.txt only, no weights */
    int32_t n_slots;          /* contexts in the pool: requests that run at once (default 1) */
    int32_t n_threads;        /* threads per context; 0 = max(1, cores / n_slots) */
    int32_t max_queue;        /* requests allowed to wait for a context; -1 = unbounded (default) */
    ts_weights_type weights;  /* how the matrices are held (ts_model_params.weights) */
    ts_weights_memory memory; /* where stored ones live (ts_model_params.memory; 0 = auto) */
    const char *tokenizer_dir; /* vocab.json + merges.txt from elsewhere; NULL = model_dir */
} ts_session_params;

ts_session_params ts_session_default_params(void);

/*
 * Load the model (or only its tokenizer) and create n_slots contexts, each
 * with its own KV cache, generator and thread pool. The model is never
 * written after this call, so the slots may run concurrently from different
 * threads. On failure *out is NULL and err names the file and field.
 */
ts_status ts_session_open(const ts_session_params *params, ts_session **out, char *err,
                          size_t err_size);
/* Frees the model and every slot; no request may be running. */
void ts_session_free(ts_session *s);
/* Borrowed until ts_session_free. ts_session_model is NULL for tokenizer_only. */
const ts_model *ts_session_model(const ts_session *s);
const ts_tokenizer *ts_session_tokenizer(const ts_session *s);
const char *ts_session_model_name(const ts_session *s);
const char *ts_session_model_dir(const ts_session *s);
int32_t ts_session_n_slots(const ts_session *s);
/* Requests currently waiting for a context (for a server's queue metrics). */
int32_t ts_session_n_waiting(const ts_session *s);

/* ======================================================================== */
/* Documents: what the terminal and the HTML report render                  */
/* ======================================================================== */
/*
 * A document is an append-only list of blocks: section headings, explanatory
 * notes, the command lines that reproduce what follows them, styled text runs
 * (shown as preformatted text), tables and figures. Analyses render their
 * results into one (ts_result_doc); the CLI prints blocks as they are added
 * (ts_doc_set_listener) and the HTML report renders the whole list.
 * Out of memory is sticky: later appends do nothing and ts_doc_ok() is false.
 */
typedef struct ts_doc ts_doc;
typedef struct ts_doc_table ts_doc_table;

typedef enum ts_style {
    TS_STYLE_PLAIN = 0,
    TS_STYLE_BOLD,
    TS_STYLE_DIM,
    TS_STYLE_PROMPT, /* the user's prompt in generated text */
    TS_STYLE_ACCENT, /* emphasis: T = 1, greedy, the chosen value */
    TS_STYLE_WARN,
    TS_STYLE_RANK0, /* TS_STYLE_RANK0 + r: the colour of rank r (cycles through 6) */
} ts_style;

typedef enum ts_doc_kind {
    TS_DOC_SECTION = 0, /* text = title */
    TS_DOC_NOTE,        /* text = a paragraph to wrap */
    TS_DOC_TEXT,        /* text = a styled run of preformatted text (len bytes, UTF-8) */
    TS_DOC_TABLE,       /* table */
    TS_DOC_FIGURE,      /* text = file path, extra = caption */
    TS_DOC_COMMAND,     /* text = a command line whose output follows ("$ tempscale ...") */
} ts_doc_kind;

typedef struct ts_doc_block {
    ts_doc_kind kind;
    ts_style style;
    const char *text;
    size_t len;
    const char *extra;
    const ts_doc_table *table;
} ts_doc_block;

/* Called for every block as it is appended (a text run may be one token). */
typedef void (*ts_doc_listener)(const ts_doc_block *b, void *user);

ts_doc *ts_doc_new(void);
void ts_doc_free(ts_doc *d);
void ts_doc_set_listener(ts_doc *d, ts_doc_listener fn, void *user);
/* Keep blocks (true, default) or only pass them to the listener (false: streaming output). */
void ts_doc_set_keep(ts_doc *d, bool keep);
size_t ts_doc_count(const ts_doc *d);
/* Borrowed until ts_doc_free. */
const ts_doc_block *ts_doc_get(const ts_doc *d, size_t i);
bool ts_doc_ok(const ts_doc *d);

void ts_doc_section(ts_doc *d, const char *title);
void ts_doc_note(ts_doc *d, const char *text);
void ts_doc_text(ts_doc *d, ts_style style, const char *s, size_t len);
void ts_doc_printf(ts_doc *d, ts_style style, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ts_doc_figure(ts_doc *d, const char *path, const char *caption);
void ts_doc_command(ts_doc *d, const char *command);
/* Append a table; the document takes ownership (also on failure). */
void ts_doc_add_table(ts_doc *d, ts_doc_table *t);

/* Tables: build, then ts_doc_add_table. NULL only when out of memory. */
ts_doc_table *ts_doc_table_new(size_t n_cols, const char *const *headers);
void ts_doc_table_free(ts_doc_table *t);
void ts_doc_table_title(ts_doc_table *t, const char *title);
void ts_doc_table_right(ts_doc_table *t, size_t col); /* right-align (numbers) */
void ts_doc_table_emphasise_col(ts_doc_table *t, size_t col);
/* A new row (style PLAIN, BOLD, DIM or ACCENT); returns its index. */
size_t ts_doc_table_row(ts_doc_table *t, ts_style style);
/* A rule above the next row (before totals). */
void ts_doc_table_rule(ts_doc_table *t);
void ts_doc_table_set(ts_doc_table *t, size_t row, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

size_t ts_doc_table_n_rows(const ts_doc_table *t);
size_t ts_doc_table_n_cols(const ts_doc_table *t);
const char *ts_doc_table_get_title(const ts_doc_table *t); /* NULL = none */
const char *ts_doc_table_header(const ts_doc_table *t, size_t col);
const char *ts_doc_table_cell(const ts_doc_table *t, size_t row, size_t col); /* never NULL */
bool ts_doc_table_is_right(const ts_doc_table *t, size_t col);
bool ts_doc_table_is_emph_col(const ts_doc_table *t, size_t col);
ts_style ts_doc_table_row_style(const ts_doc_table *t, size_t row);
bool ts_doc_table_rule_before(const ts_doc_table *t, size_t row);

/*
 * Make raw token bytes printable, NUL-terminated into out (always terminated,
 * truncated to fit). TS_TOKEN_QUOTE: Python-repr style ' the' with \n \t \r
 * \\ \' escapes; TS_TOKEN_VISIBLE: a space as ␣, a newline as ↵, a tab as
 * →, no quotes. Both show other control bytes and bytes that are not
 * complete UTF-8 as \xNN. Returns out.
 */
typedef enum ts_token_style { TS_TOKEN_QUOTE = 0, TS_TOKEN_VISIBLE = 1 } ts_token_style;
char *ts_token_printable(const char *bytes, size_t len, ts_token_style style, char *out,
                         size_t out_size);

/* ======================================================================== */
/* Analyses and their fields                                                */
/* ======================================================================== */
typedef struct ts_analysis ts_analysis;

typedef enum ts_needs {
    TS_NEEDS_NOTHING = 0,   /* pure math (softmax) */
    TS_NEEDS_TOKENIZER = 1, /* vocab.json + merges.txt (tokenize) */
    TS_NEEDS_MODEL = 2,
} ts_needs;

typedef enum ts_field_type {
    TS_FIELD_BOOL = 0, /* CLI: a flag without value; JSON: true / false */
    TS_FIELD_INT,      /* integer */
    TS_FIELD_U64,      /* non-negative 64-bit integer (seeds) */
    TS_FIELD_DOUBLE,   /* number; "inf" where infinity is allowed */
    TS_FIELD_STRING,
    TS_FIELD_ENUM,    /* one of a few names */
    TS_FIELD_DOUBLES, /* CLI: comma-separated; JSON: array of numbers ("inf" allowed) */
    TS_FIELD_FLOATS,  /* logits: like DOUBLES, "-inf" allowed, stored as float32 */
    TS_FIELD_IDS,     /* token ids: CLI comma-separated, JSON array of integers */
    TS_FIELD_STRINGS, /* CLI: comma-separated or a repeated option (per field); JSON: array */
    TS_FIELD_BIAS,    /* logit bias: CLI "ID:BIAS,ID:BIAS"; JSON {"id": bias} */
} ts_field_type;

/* Field flags. */
#define TS_FIELD_REPEAT  1u /* CLI: the option may be repeated, each adds an item */
#define TS_FIELD_NO_JSON 2u /* a CLI-only field (a file name the CLI reads, e.g. --text) */
#define TS_FIELD_HIDDEN  4u /* JSON only: not a CLI option (the CLI fills it its own way) */
#define TS_FIELD_INPUT   8u /* the main input text: the CLI's arguments, --file or stdin */

typedef struct ts_field_info {
    const char *name; /* JSON key (snake_case); the CLI option is --name with '-' for '_' */
    ts_field_type type;
    const char *metavar; /* "T", "LIST", "N" for --help; NULL for flags */
    const char *def;     /* default as shown in --help; NULL = none / unset */
    const char *help;    /* one line */
    unsigned flags;
    const char *const *choices; /* ENUM: NULL-terminated names */
} ts_field_info;

size_t ts_analysis_count(void);
const ts_analysis *ts_analysis_at(size_t i);
const ts_analysis *ts_analysis_find(const char *name);
/* The analysis behind a native route ("/api/top"); NULL when none. */
const ts_analysis *ts_analysis_by_route(const char *path);
const char *ts_analysis_name(const ts_analysis *a);
const char *ts_analysis_route(const ts_analysis *a); /* NULL: not served over HTTP */
const char *ts_analysis_summary(const ts_analysis *a);
ts_needs ts_analysis_needs(const ts_analysis *a);
bool ts_analysis_has_plot(const ts_analysis *a);
size_t ts_analysis_n_fields(const ts_analysis *a);
const ts_field_info *ts_analysis_field(const ts_analysis *a, size_t i);
/* By JSON name, or by CLI spelling ("top-p"); NULL when unknown. */
const ts_field_info *ts_analysis_find_field(const ts_analysis *a, const char *name);
/*
 * The known field name closest to `name` (edit distance, '-' and '_' equal),
 * for "did you mean"; NULL when nothing is close.
 */
const char *ts_analysis_suggest_field(const ts_analysis *a, const char *name);

/* ======================================================================== */
/* Requests                                                                 */
/* ======================================================================== */
typedef struct ts_request ts_request;

/* A request with every field at its default. */
ts_status ts_request_new(const ts_analysis *a, ts_request **out, char *err, size_t err_size);
void ts_request_free(ts_request *r);
const ts_analysis *ts_request_analysis(const ts_request *r);
/* What this request needs to run (calibrate needs the model only with a text). */
ts_needs ts_request_needs(const ts_request *r);

/*
 * Set a field from its text form, as typed on a command line: numbers
 * ("inf" where allowed), comma-separated lists (an empty item is an error),
 * "true"/"false" for booleans. A repeatable field appends; setting any other
 * field twice is an error ("k: given twice"). Type and range are checked
 * here with the same messages as the JSON path; checks that need the model
 * (k <= vocabulary) happen in ts_request_run.
 */
ts_status ts_request_set(ts_request *r, const char *field, const char *text, char *err,
                         size_t err_size);
bool ts_request_is_set(const ts_request *r, const char *field);
/* Append one item, verbatim (no comma splitting), to a list-of-texts field. */
ts_status ts_request_append(ts_request *r, const char *field, const char *text, char *err,
                            size_t err_size);
/* Set a text field to len raw bytes (any bytes, NUL included: a file's contents). */
ts_status ts_request_set_bytes(ts_request *r, const char *field, const char *data, size_t len,
                               char *err, size_t err_size);

/*
 * A request from a JSON object with the same field names (unknown fields
 * are errors with a suggestion; "model" is accepted and ignored — the
 * session decides). TS_ERR_FORMAT for text that is not a JSON object.
 */
ts_status ts_request_from_json(const ts_analysis *a, const char *json, size_t len, ts_request **out,
                               char *err, size_t err_size);

/*
 * If the analysis takes a "seed" that is not set and whose absence means a
 * random one, set one from the OS's randomness and return true (the caller
 * may tell the user); false otherwise.
 */
bool ts_request_ensure_seed(ts_request *r, uint64_t *seed);

/*
 * The shell command that reproduces r: "tempscale top --prompt 'x' --k 5"
 * with every field that was set (shell-quoted), plus `extra` verbatim (e.g.
 * " --model DIR --plot f.png"; may be NULL). malloc'd; NULL when out of memory.
 */
char *ts_request_command_line(const ts_request *r, const char *extra);

/* ---- running ------------------------------------------------------------ */

typedef enum ts_event_kind {
    TS_EV_SAMPLE_BEGIN = 0, /* a generated sequence starts */
    TS_EV_TOKEN,            /* one generated token */
    TS_EV_SAMPLE_END,       /* the sequence ended (finish_reason set) */
    TS_EV_PROGRESS,         /* done / total units of long work */
} ts_event_kind;

typedef struct ts_event {
    ts_event_kind kind;
    size_t prompt_index, temp_index,
        sample_index; /* which sequence (compare: prompt x T x sample) */
    double temperature;
    const ts_gen_step *step;   /* TS_EV_TOKEN: borrowed for the call */
    const char *finish_reason; /* TS_EV_SAMPLE_END: "stop" or "length" */
    const int32_t *prompt_ids; /* generation events: the prompt's ids (borrowed) */
    size_t n_prompt_ids;
    const char *text; /* TS_EV_SAMPLE_END: the whole generated text (borrowed) */
    size_t text_len;
    bool eot;              /* TS_EV_SAMPLE_END: ended by <|endoftext|> */
    bool greedy;           /* compare: the greedy reference of the prompt */
    bool compared;         /* compare, TS_EV_SAMPLE_END: diverges_at is meaningful */
    long diverges_at;      /* compare, TS_EV_SAMPLE_END: first step off the greedy
                              text, -1 = never */
    size_t diverge_offset; /* ... and the byte offset in text where that happens */
    size_t done, total;    /* TS_EV_PROGRESS */
} ts_event;

/* Return non-zero to cancel the run (it ends with TS_ERR_IO "cancelled"). */
typedef int (*ts_event_fn)(const ts_event *ev, void *user);

typedef struct ts_run_opts {
    ts_event_fn on_event; /* may be NULL */
    void *user;
    /*
     * When set, the result is rendered into this document while it runs
     * (generated text token by token), and ts_result_doc with live = true
     * adds only what comes after. NULL: nothing is rendered.
     */
    ts_doc *live_doc;
    int slot_timeout_ms; /* wait for a free context: -1 forever (default), 0 no wait */
} ts_run_opts;

typedef struct ts_result ts_result;

/*
 * Run the request on the session. Takes a context from the pool for the
 * duration (waiting as slot_timeout_ms says; TS_ERR_BUSY when the queue is
 * full or the wait timed out). Never prints. Validation errors that need the
 * model (TS_ERR_INVALID / TS_ERR_RANGE) name the field as above. The request
 * is not modified and may be run again.
 */
ts_status ts_request_run(const ts_request *r, ts_session *s, const ts_run_opts *opts,
                         ts_result **out, char *err, size_t err_size);
void ts_result_free(ts_result *res);
const ts_analysis *ts_result_analysis(const ts_result *res);
/* Things the user should know (a capped length, too few samples per bin ...). */
size_t ts_result_n_warnings(const ts_result *res);
const char *ts_result_warning(const ts_result *res, size_t i);

/*
 * The result as compact JSON (one line, no trailing newline), malloc'd;
 * NULL when out of memory. Infinite numbers are the strings "inf" / "-inf".
 * This is the JSON of the CLI's --json, of /api/<name> and of batch lines.
 */
char *ts_result_json(const ts_result *res);

/*
 * Render the result into doc (tables, text, notes). live: the result was
 * rendered live into this doc during the run; add only the rest.
 */
ts_status ts_result_doc(const ts_result *res, ts_doc *doc, bool live);

/* The analysis' figure (.png, .svg, .pdf; atomic). TS_ERR_UNSUPPORTED when it has none. */
ts_status ts_result_plot(const ts_result *res, const char *path, const char *title, char *err,
                         size_t err_size);

/*
 * Some results have several figures (diversity: the frontier, the metrics
 * against T, the divergence curve). Figure 0 is ts_result_plot's; figure i
 * has a short name ("metrics") that front ends put in its file name.
 */
size_t ts_result_n_figures(const ts_result *res);
const char *ts_result_figure_name(const ts_result *res, size_t i);
ts_status ts_result_plot_figure(const ts_result *res, size_t i, const char *path, char *err,
                                size_t err_size);

/* top: the raw last-position logits (n_vocab floats); NULL for other analyses. */
const float *ts_result_logits(const ts_result *res, size_t *n);

/* ======================================================================== */
/* HTTP-shaped API: what `tempscale serve` and `tempscale batch` both call  */
/* ======================================================================== */
typedef struct ts_api_response {
    int status;               /* HTTP status: 200, 400, 401, 404, 405, 413, 500, 503 */
    char *body;               /* malloc'd JSON (one line), or NULL for a streamed 200 */
    const char *content_type; /* static */
    int retry_after;          /* seconds, for 503; 0 = none */
} ts_api_response;

/* Streamed responses (stream: true) call this per Server-Sent-Events data line. */
typedef int (*ts_api_chunk_fn)(const char *data, size_t len, void *user);

typedef struct ts_api_opts {
    ts_api_chunk_fn on_chunk; /* NULL: streaming requests are answered in one body */
    void *user;
    int slot_timeout_ms;
    /*
     * Non-streamed runs: asked at every event (each generated token); non-zero
     * cancels the run (the client left, the server stops). May be NULL.
     * Streamed runs are cancelled by on_chunk returning non-zero instead.
     */
    int (*is_cancelled)(void *user);
} ts_api_opts;

/*
 * Handle one request: GET /v1/models, POST /v1/completions, POST /api/<name>.
 * Errors are OpenAI's {"error":{"message","type","param","code"}} with the
 * status. Never fails: out of memory becomes a 500 with a static body.
 * Free out->body with ts_api_response_clear.
 */
void ts_api_handle(ts_session *s, const char *method, const char *path, const char *body,
                   size_t len, const ts_api_opts *opts, ts_api_response *out);
void ts_api_response_clear(ts_api_response *r);
/* An OpenAI-shaped error body (malloc'd) for front ends (401, 413 ...). */
char *ts_api_error_body(const char *message, const char *type, const char *param, const char *code);

#ifdef __cplusplus
}
#endif

#endif /* TEMPSCALE_REQUEST_H */

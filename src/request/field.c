/*
 * field.c — requests as tables of typed fields. One table per analysis
 * (rq_field: name, type, where the value lives, bounds, help) drives:
 *   - ts_request_set: a value from command-line text ("0.5", "1,2,inf");
 *   - rq_field_set_json / ts_request_from_json: a value from JSON;
 *   - validation with ONE message per problem for both paths
 *     ("top_p: 1.5 is outside (0, 1]");
 *   - ts_request_command_line: the shell command that reproduces a request;
 *   - the CLI's --help and "did you mean" (through ts_analysis_field).
 * Owned storage (strings, lists) is freed by rq_request_clear from the table.
 */
#include "rq_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static void *fptr(const ts_request *r, const rq_field *f) { return (char *)r->data + f->off; }

/* "top-p" and "top_p" are the same name. */
static bool same_name(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
        if (x != y) return false;
    }
    return *a == *b;
}

int rq_field_index(const ts_analysis *a, const char *name)
{
    for (size_t i = 0; i < a->n_fields; i++)
        if (same_name(a->fields[i].info.name, name)) return (int)i;
    return -1;
}

size_t ts_analysis_n_fields(const ts_analysis *a) { return a->n_fields; }

const ts_field_info *ts_analysis_field(const ts_analysis *a, size_t i)
{
    return i < a->n_fields ? &a->fields[i].info : NULL;
}

const ts_field_info *ts_analysis_find_field(const ts_analysis *a, const char *name)
{
    int i = rq_field_index(a, name);
    return i < 0 ? NULL : &a->fields[i].info;
}

/* Levenshtein distance with '-' == '_', case-insensitive; capped at 99. */
static size_t edit_distance(const char *s, const char *t)
{
    size_t n = strlen(s), m = strlen(t);
    if (n > 64 || m > 64) return 99;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= m; j++) prev[j] = j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= m; j++) {
            char a = s[i - 1] == '-' ? '_' : (char)(s[i - 1] | 0x20);
            char b = t[j - 1] == '-' ? '_' : (char)(t[j - 1] | 0x20);
            size_t sub = prev[j - 1] + (a != b), del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (m + 1) * sizeof *prev);
    }
    return prev[m];
}

const char *ts_analysis_suggest_field(const ts_analysis *a, const char *name)
{
    const char *best = NULL;
    size_t best_d = 99, len = strlen(name);
    for (size_t i = 0; i < a->n_fields; i++) {
        size_t d = edit_distance(name, a->fields[i].info.name);
        if (d < best_d) {
            best_d = d;
            best = a->fields[i].info.name;
        }
    }
    size_t limit = len <= 3 ? 1 : len <= 8 ? 2 : 3;
    return best_d <= limit ? best : NULL;
}

/* ---- lifetime ----------------------------------------------------------- */

ts_status ts_request_new(const ts_analysis *a, ts_request **out, char *err, size_t err_size)
{
    *out = NULL;
    TS_ASSERT(a->n_fields <= RQ_MAX_FIELDS);
    ts_request *r = calloc(1, sizeof *r);
    void *data = r ? calloc(1, a->req_size) : NULL;
    if (!data) {
        free(r);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", a->name);
    }
    r->a = a;
    r->data = data;
    if (a->init) a->init(data);
    *out = r;
    return TS_OK;
}

static void strings_free(rq_strings *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* Free the owned storage of field f (and zero it). */
static void field_clear(ts_request *r, const rq_field *f)
{
    void *p = fptr(r, f);
    switch (f->info.type) {
    case TS_FIELD_STRING: {
        rq_str *t = p;
        free(t->s);
        t->s = NULL;
        t->n = 0;
        break;
    }
    case TS_FIELD_DOUBLES:
    case TS_FIELD_FLOATS: {
        rq_doubles *d = p;
        free(d->v);
        d->v = NULL;
        d->n = 0;
        break;
    }
    case TS_FIELD_IDS: {
        rq_ids *d = p;
        free(d->v);
        d->v = NULL;
        d->n = 0;
        break;
    }
    case TS_FIELD_STRINGS: strings_free(p); break;
    case TS_FIELD_BIAS: {
        rq_bias *b = p;
        free(b->v);
        b->v = NULL;
        b->n = 0;
        break;
    }
    default: break;
    }
}

void rq_request_clear(ts_request *r)
{
    for (size_t i = 0; i < r->a->n_fields; i++) field_clear(r, &r->a->fields[i]);
}

void ts_request_free(ts_request *r)
{
    if (!r) return;
    rq_request_clear(r);
    free(r->data);
    free(r);
}

const ts_analysis *ts_request_analysis(const ts_request *r) { return r->a; }

static void *dup_mem(const void *p, size_t n)
{
    if (!p || n == 0) return NULL;
    void *q = malloc(n);
    if (q) memcpy(q, p, n);
    return q;
}

ts_status rq_request_clone(const ts_request *r, ts_request **out)
{
    *out = NULL;
    ts_request *c = calloc(1, sizeof *c);
    void *data = c ? malloc(r->a->req_size) : NULL;
    if (!data) {
        free(c);
        return TS_ERR_NOMEM;
    }
    c->a = r->a;
    c->data = data;
    memcpy(c->data, r->data, r->a->req_size);
    memcpy(c->set, r->set, sizeof c->set);
    bool ok = true;
    /* Deep-copy the owned parts; on failure zero the rest so clear frees only ours. */
    for (size_t i = 0; i < r->a->n_fields; i++) {
        const rq_field *f = &r->a->fields[i];
        void *p = fptr(c, f);
        switch (f->info.type) {
        case TS_FIELD_STRING: {
            rq_str *t = p;
            if (t->s) {
                char *copy = ok ? malloc(t->n + 1) : NULL;
                if (copy) memcpy(copy, t->s, t->n + 1);
                ok = ok && copy;
                t->s = copy;
                if (!copy) t->n = 0;
            }
            break;
        }
        case TS_FIELD_DOUBLES:
        case TS_FIELD_FLOATS: {
            rq_doubles *d = p;
            d->v = ok ? dup_mem(d->v, d->n * sizeof *d->v) : NULL;
            ok = ok && (d->v || d->n == 0);
            if (!d->v) d->n = 0;
            break;
        }
        case TS_FIELD_IDS: {
            rq_ids *d = p;
            d->v = ok ? dup_mem(d->v, d->n * sizeof *d->v) : NULL;
            ok = ok && (d->v || d->n == 0);
            if (!d->v) d->n = 0;
            break;
        }
        case TS_FIELD_STRINGS: {
            rq_strings *s = p;
            char **src = s->v;
            size_t n = s->n;
            s->v = NULL;
            s->n = 0;
            if (ok && n) {
                s->v = calloc(n, sizeof *s->v);
                ok = s->v != NULL;
                for (size_t k = 0; ok && k < n; k++) {
                    s->v[k] = strdup(src[k]);
                    ok = s->v[k] != NULL;
                    s->n = k + 1;
                }
            }
            break;
        }
        case TS_FIELD_BIAS: {
            rq_bias *b = p;
            b->v = ok ? dup_mem(b->v, b->n * sizeof *b->v) : NULL;
            ok = ok && (b->v || b->n == 0);
            if (!b->v) b->n = 0;
            break;
        }
        default: break;
        }
    }
    if (!ok) {
        ts_request_free(c);
        return TS_ERR_NOMEM;
    }
    *out = c;
    return TS_OK;
}

bool rq_is_set(const ts_request *r, const char *name)
{
    int i = rq_field_index(r->a, name);
    return i >= 0 && r->set[i];
}

bool ts_request_is_set(const ts_request *r, const char *field) { return rq_is_set(r, field); }

/* ---- checks and messages -------------------------------------------------- */

/* "%g" unless it loses digits, then "%.17g"; infinities as "inf" / "-inf". */
static void fmt_double(char *buf, size_t size, double v)
{
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "inf" : "-inf");
        return;
    }
    snprintf(buf, size, "%g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, size, "%.17g", v);
}

ts_status rq_check_range(const rq_field *f, double v, const char *item, char *err,
                         size_t err_size)
{
    bool lo_ok = f->min_open ? v > f->min : v >= f->min;
    bool hi_ok = f->max_open ? v < f->max : v <= f->max;
    if (lo_ok && hi_ok) return TS_OK;
    char a[40], b[40], x[40];
    fmt_double(a, sizeof a, f->min);
    fmt_double(b, sizeof b, f->max);
    fmt_double(x, sizeof x, v);
    return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: %s%s is outside %c%s, %s%c%s%s",
                     f->info.name, item ? item : "", x, f->min_open ? '(' : '[', a, b,
                     f->max_open ? ')' : ']', f->hint ? " " : "", f->hint ? f->hint : "");
}

/* Parse a number the CLI way: decimal, "inf" where the field allows it, never NaN. */
static ts_status parse_double_text(const rq_field *f, const char *s, const char *item, double *out,
                                   char *err, size_t err_size)
{
    while (*s == ' ') s++;
    double v;
    if (strcasecmp(s, "inf") == 0 || strcasecmp(s, "+inf") == 0 ||
        strcasecmp(s, "infinity") == 0) {
        v = INFINITY;
    } else if (strcasecmp(s, "-inf") == 0 || strcasecmp(s, "-infinity") == 0) {
        v = -INFINITY;
    } else {
        char *end;
        errno = 0;
        v = strtod(s, &end);
        while (*end == ' ') end++;
        if (end == s || *end != '\0')
            return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: %s'%s' is not a number",
                             f->info.name, item ? item : "", s);
        if (isnan(v))
            return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: %sNaN is not allowed",
                             f->info.name, item ? item : "");
        if (isinf(v))
            return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: %s'%s' is too large",
                             f->info.name, item ? item : "", s);
    }
    if (v == -INFINITY && f->allow_neg_inf) {
        *out = v;
        return TS_OK;
    }
    if (isinf(v) && !(v > 0 && isinf(f->max)))
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: %s%s is not allowed%s%s",
                         f->info.name, item ? item : "", v > 0 ? "+inf" : "-inf",
                         f->hint ? " " : "", f->hint ? f->hint : "");
    ts_status st = rq_check_range(f, v, item, err, err_size);
    if (st == TS_OK) *out = v;
    return st;
}

static ts_status parse_int_text(const rq_field *f, const char *s, const char *item, int64_t *out,
                                char *err, size_t err_size)
{
    while (*s == ' ') s++;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    while (*end == ' ') end++;
    if (end == s || *end != '\0')
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: %s'%s' is not an integer",
                         f->info.name, item ? item : "", s);
    if (errno == ERANGE || (double)v < f->min || (double)v > f->max) {
        char a[40], b[40];
        fmt_double(a, sizeof a, f->min);
        fmt_double(b, sizeof b, f->max);
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: %s%s is outside [%s, %s]%s%s",
                         f->info.name, item ? item : "", s, a, b, f->hint ? " " : "",
                         f->hint ? f->hint : "");
    }
    *out = v;
    return TS_OK;
}

static ts_status parse_u64_text(const rq_field *f, const char *s, uint64_t *out, char *err,
                                size_t err_size)
{
    while (*s == ' ') s++;
    char *end;
    errno = 0;
    if (*s == '-' || *s == '+')
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: '%s' must be a non-negative integer",
                         f->info.name, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "%s: '%s' is not a non-negative 64-bit integer", f->info.name, s);
    *out = (uint64_t)v;
    return TS_OK;
}

static void store_int(ts_request *r, const rq_field *f, int64_t v)
{
    if (f->i32)
        *(int32_t *)fptr(r, f) = (int32_t)v;
    else
        *(int64_t *)fptr(r, f) = v;
}

static ts_status enum_value(const rq_field *f, const char *s, int *out, char *err,
                            size_t err_size)
{
    const char *const *c = f->info.choices;
    for (int i = 0; c && c[i]; i++)
        if (strcmp(c[i], s) == 0) {
            *out = i;
            return TS_OK;
        }
    char list[256] = "";
    size_t used = 0;
    for (int i = 0; c && c[i] && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                 i == 0 ? "" : c[i + 1] ? ", " : " or ", c[i]);
    return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: unknown value '%s' (expected %s)",
                     f->info.name, s, list);
}

/* ---- lists ---------------------------------------------------------------- */

/* Grow an array of elem-sized items by one; false when out of memory. */
static bool grow(void **v, size_t n, size_t elem)
{
    void *p = realloc(*v, (n + 1) * elem);
    if (!p) return false;
    *v = p;
    return true;
}

/* Append one item of a list field (already parsed into the right C value). */
static ts_status list_append(ts_request *r, const rq_field *f, const void *value, char *err,
                             size_t err_size)
{
    void *p = fptr(r, f);
    bool ok = false;
    size_t n = 0;
    switch (f->info.type) {
    case TS_FIELD_DOUBLES:
    case TS_FIELD_FLOATS: {
        rq_doubles *d = p;
        n = d->n;
        if ((ok = grow((void **)&d->v, d->n, sizeof *d->v))) d->v[d->n++] = *(const double *)value;
        break;
    }
    case TS_FIELD_IDS: {
        rq_ids *d = p;
        n = d->n;
        if ((ok = grow((void **)&d->v, d->n, sizeof *d->v))) d->v[d->n++] = *(const int32_t *)value;
        break;
    }
    case TS_FIELD_STRINGS: {
        rq_strings *d = p;
        n = d->n;
        char *s = strdup((const char *)value);
        if (s && (ok = grow((void **)&d->v, d->n, sizeof *d->v)))
            d->v[d->n++] = s;
        else
            free(s);
        break;
    }
    default: TS_ASSERT(0);
    }
    if (!ok) return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", f->info.name);
    if (f->max_items && n + 1 > f->max_items)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: at most %zu items", f->info.name,
                         f->max_items);
    return TS_OK;
}

static ts_status bias_append(ts_request *r, const rq_field *f, int32_t id, double bias,
                             char *err, size_t err_size)
{
    rq_bias *b = fptr(r, f);
    if (!grow((void **)&b->v, b->n, sizeof *b->v))
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", f->info.name);
    b->v[b->n].token = id;
    b->v[b->n].bias = bias;
    b->n++;
    if (f->max_items && b->n > f->max_items)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: at most %zu entries", f->info.name,
                         f->max_items);
    return TS_OK;
}

/* One list item from text. */
static ts_status item_from_text(ts_request *r, const rq_field *f, const char *s, size_t k,
                                char *err, size_t err_size)
{
    char item[32];
    snprintf(item, sizeof item, "item %zu: ", k + 1);
    switch (f->info.type) {
    case TS_FIELD_DOUBLES:
    case TS_FIELD_FLOATS: {
        double v;
        ts_status st = parse_double_text(f, s, item, &v, err, err_size);
        if (st != TS_OK) return st;
        if (f->info.type == TS_FIELD_DOUBLES) return list_append(r, f, &v, err, err_size);
        if (v == INFINITY)
            return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: %s+inf is not allowed%s%s",
                             f->info.name, item, f->hint ? " " : "", f->hint ? f->hint : "");
        if (isfinite(v) && fabs(v) > 3.4028234663852886e38)
            return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: %s%g does not fit a float32",
                             f->info.name, item, v);
        return list_append(r, f, &v, err, err_size);
    }
    case TS_FIELD_IDS: {
        int64_t v;
        ts_status st = parse_int_text(f, s, item, &v, err, err_size);
        if (st != TS_OK) return st;
        int32_t x = (int32_t)v;
        return list_append(r, f, &x, err, err_size);
    }
    case TS_FIELD_STRINGS: return list_append(r, f, s, err, err_size);
    case TS_FIELD_BIAS: {
        const char *colon = strchr(s, ':');
        if (!colon) colon = strchr(s, '=');
        if (!colon)
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "%s: %s'%s' is not ID:BIAS (e.g. 50256:-100)", f->info.name, item, s);
        char id_text[32];
        size_t n = (size_t)(colon - s);
        if (n >= sizeof id_text) n = sizeof id_text - 1;
        memcpy(id_text, s, n);
        id_text[n] = '\0';
        rq_field idf = *f;
        idf.min = 0;
        idf.max = 2147483647.0;
        int64_t id;
        ts_status st = parse_int_text(&idf, id_text, item, &id, err, err_size);
        double bias;
        if (st == TS_OK) st = parse_double_text(f, colon + 1, item, &bias, err, err_size);
        if (st != TS_OK) return st;
        return bias_append(r, f, (int32_t)id, bias, err, err_size);
    }
    default: TS_ASSERT(0);
    }
    return TS_ERR_INVALID;
}

/* ---- setting from text (CLI) ---------------------------------------------- */

static ts_status str_store(rq_str *t, const rq_field *f, const char *data, size_t len, char *err,
                           size_t err_size)
{
    char *c = malloc(len + 1);
    if (!c) return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", f->info.name);
    if (len) memcpy(c, data, len);
    c[len] = '\0';
    free(t->s);
    t->s = c;
    t->n = len;
    return TS_OK;
}

ts_status ts_request_set_bytes(ts_request *r, const char *field, const char *data, size_t len,
                               char *err, size_t err_size)
{
    int i = rq_field_index(r->a, field);
    if (i < 0 || r->a->fields[i].info.type != TS_FIELD_STRING)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: not a text field", field);
    const rq_field *f = &r->a->fields[i];
    if (r->set[i])
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "%s: given twice (give each option once)", f->info.name);
    ts_status st = str_store(fptr(r, f), f, data, len, err, err_size);
    if (st == TS_OK) r->set[i] = 1;
    return st;
}

ts_status ts_request_set(ts_request *r, const char *field, const char *text, char *err,
                         size_t err_size)
{
    int i = rq_field_index(r->a, field);
    if (i < 0) {
        const char *s = ts_analysis_suggest_field(r->a, field);
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: unknown field%s%s%s", field,
                         s ? " (did you mean " : "", s ? s : "", s ? "?)" : "");
    }
    const rq_field *f = &r->a->fields[i];
    bool repeat = (f->info.flags & TS_FIELD_REPEAT) != 0;
    if (r->set[i] && !repeat)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "%s: given twice (give each option once)", f->info.name);
    if (!text) text = f->info.type == TS_FIELD_BOOL ? "true" : "";
    ts_status st = TS_OK;
    void *p = fptr(r, f);
    switch (f->info.type) {
    case TS_FIELD_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0 || strcmp(text, "yes") == 0)
            *(bool *)p = true;
        else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0 || strcmp(text, "no") == 0)
            *(bool *)p = false;
        else
            st = ts_errorf(err, err_size, TS_ERR_INVALID, "%s: '%s' is not true or false",
                           f->info.name, text);
        break;
    case TS_FIELD_INT: {
        int64_t v;
        st = parse_int_text(f, text, NULL, &v, err, err_size);
        if (st == TS_OK) store_int(r, f, v);
        break;
    }
    case TS_FIELD_U64: st = parse_u64_text(f, text, p, err, err_size); break;
    case TS_FIELD_DOUBLE: st = parse_double_text(f, text, NULL, p, err, err_size); break;
    case TS_FIELD_STRING: st = str_store(p, f, text, strlen(text), err, err_size); break;
    case TS_FIELD_ENUM: st = enum_value(f, text, p, err, err_size); break;
    default: {
        /* Lists. A repeatable list of strings takes each option whole (prompts have commas). */
        if (!r->set[i] || !repeat) field_clear(r, f);
        if (f->info.type == TS_FIELD_STRINGS && repeat) {
            st = list_append(r, f, text, err, err_size);
            break;
        }
        if (text[0] == '\0')
            return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: empty list", f->info.name);
        const char *s = text;
        for (size_t k = 0; st == TS_OK; k++) {
            const char *comma = strchr(s, ',');
            size_t n = comma ? (size_t)(comma - s) : strlen(s);
            char *item = strndup(s, n);
            if (!item) return ts_errorf(err, err_size, TS_ERR_NOMEM, "out of memory");
            const char *t = item;
            while (*t == ' ') t++;
            if (*t == '\0' && f->info.type != TS_FIELD_STRINGS)
                st = ts_errorf(err, err_size, TS_ERR_INVALID, "%s: item %zu is empty",
                               f->info.name, k + 1);
            else
                st = item_from_text(r, f, f->info.type == TS_FIELD_STRINGS ? item : t, k, err,
                                    err_size);
            free(item);
            if (!comma) break;
            s = comma + 1;
        }
        break;
    }
    }
    if (st == TS_OK) r->set[i] = 1;
    return st;
}

ts_status ts_request_append(ts_request *r, const char *field, const char *text, char *err,
                            size_t err_size)
{
    int i = rq_field_index(r->a, field);
    if (i < 0 || r->a->fields[i].info.type != TS_FIELD_STRINGS)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: not a list of texts", field);
    ts_status st = list_append(r, &r->a->fields[i], text, err, err_size);
    if (st == TS_OK) r->set[i] = 1;
    return st;
}

/* ---- setting from JSON ----------------------------------------------------- */

static const char *json_type_name(const cJSON *v)
{
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsNull(v)) return "null";
    return "something else";
}

/* A JSON number or "inf"-like string as a double for field f. */
static ts_status json_double(const rq_field *f, const cJSON *v, const char *item, double *out,
                             char *err, size_t err_size)
{
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        if (strcasecmp(s, "inf") == 0 || strcasecmp(s, "+inf") == 0 ||
            strcasecmp(s, "infinity") == 0 || strcasecmp(s, "-inf") == 0 ||
            strcasecmp(s, "-infinity") == 0)
            return parse_double_text(f, s, item, out, err, err_size);
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: %sexpected a number, got a string",
                         f->info.name, item ? item : "");
    }
    if (!cJSON_IsNumber(v))
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: %sexpected a number, got %s",
                         f->info.name, item ? item : "", json_type_name(v));
    ts_status st = rq_check_range(f, v->valuedouble, item, err, err_size);
    if (st == TS_OK) *out = v->valuedouble;
    return st;
}

static ts_status json_int(const rq_field *f, const cJSON *v, const char *item, int64_t *out,
                          char *err, size_t err_size)
{
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        fabs(v->valuedouble) > 9.0e15)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: %sexpected an integer, got %s",
                         f->info.name, item ? item : "",
                         cJSON_IsNumber(v) ? "a fraction" : json_type_name(v));
    char text[48];
    snprintf(text, sizeof text, "%.0f", v->valuedouble);
    return parse_int_text(f, text, item, out, err, err_size);
}

ts_status rq_field_set_json(ts_request *r, int i, const cJSON *v, char *err, size_t err_size)
{
    const rq_field *f = &r->a->fields[i];
    if (r->set[i])
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: given twice", f->info.name);
    void *p = fptr(r, f);
    ts_status st = TS_OK;
    switch (f->info.type) {
    case TS_FIELD_BOOL:
        if (!cJSON_IsBool(v))
            return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: expected true or false, got %s",
                             f->info.name, json_type_name(v));
        *(bool *)p = cJSON_IsTrue(v);
        break;
    case TS_FIELD_INT: {
        int64_t x;
        st = json_int(f, v, NULL, &x, err, err_size);
        if (st == TS_OK) store_int(r, f, x);
        break;
    }
    case TS_FIELD_U64:
        if (cJSON_IsString(v)) {
            st = parse_u64_text(f, v->valuestring, p, err, err_size);
            break;
        }
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != floor(v->valuedouble) ||
            v->valuedouble >= 18446744073709551616.0)
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "%s: expected a non-negative integer, got %s", f->info.name,
                             cJSON_IsNumber(v) ? "another number" : json_type_name(v));
        *(uint64_t *)p = (uint64_t)v->valuedouble;
        break;
    case TS_FIELD_DOUBLE: st = json_double(f, v, NULL, p, err, err_size); break;
    case TS_FIELD_STRING: {
        if (!cJSON_IsString(v))
            return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: expected a string, got %s",
                             f->info.name, json_type_name(v));
        st = str_store(p, f, v->valuestring, strlen(v->valuestring), err, err_size);
        break;
    }
    case TS_FIELD_ENUM:
        if (!cJSON_IsString(v))
            return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: expected a string, got %s",
                             f->info.name, json_type_name(v));
        st = enum_value(f, v->valuestring, p, err, err_size);
        break;
    case TS_FIELD_BIAS: {
        field_clear(r, f);
        if (!cJSON_IsObject(v))
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "%s: expected an object {\"token id\": bias}, got %s", f->info.name,
                             json_type_name(v));
        size_t k = 0;
        for (const cJSON *e = v->child; e && st == TS_OK; e = e->next, k++) {
            char item[48];
            snprintf(item, sizeof item, "entry %zu: ", k + 1);
            char *end;
            errno = 0;
            long id = strtol(e->string ? e->string : "", &end, 10);
            if (!e->string || end == e->string || *end || errno || id < 0 || id > INT32_MAX)
                return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: %skey '%s' is not a token id",
                                 f->info.name, item, e->string ? e->string : "");
            double b;
            st = json_double(f, e, item, &b, err, err_size);
            if (st == TS_OK) st = bias_append(r, f, (int32_t)id, b, err, err_size);
        }
        break;
    }
    default: {
        field_clear(r, f);
        /* A single string is a one-item list of strings (e.g. "stop": "\n"). */
        if (f->info.type == TS_FIELD_STRINGS && cJSON_IsString(v)) {
            st = list_append(r, f, v->valuestring, err, err_size);
            break;
        }
        if (!cJSON_IsArray(v))
            return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: expected an array, got %s",
                             f->info.name, json_type_name(v));
        if (cJSON_GetArraySize(v) == 0)
            return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: empty list", f->info.name);
        size_t k = 0;
        for (const cJSON *e = v->child; e && st == TS_OK; e = e->next, k++) {
            char item[32];
            snprintf(item, sizeof item, "item %zu: ", k + 1);
            switch (f->info.type) {
            case TS_FIELD_DOUBLES: {
                double x;
                st = json_double(f, e, item, &x, err, err_size);
                if (st == TS_OK) st = list_append(r, f, &x, err, err_size);
                break;
            }
            case TS_FIELD_FLOATS: {
                double x;
                st = json_double(f, e, item, &x, err, err_size);
                if (st == TS_OK && isinf(x) && x < 0 && !f->allow_neg_inf)
                    st = ts_errorf(err, err_size, TS_ERR_INVALID, "%s: %s-inf is not allowed",
                                   f->info.name, item);
                if (st == TS_OK && isinf(x) && x > 0)
                    st = ts_errorf(err, err_size, TS_ERR_INVALID, "%s: %s+inf is not allowed%s%s",
                                   f->info.name, item, f->hint ? " " : "", f->hint ? f->hint : "");
                if (st == TS_OK && isfinite(x) && fabs(x) > 3.4028234663852886e38)
                    st = ts_errorf(err, err_size, TS_ERR_INVALID,
                                   "%s: %s%g does not fit a float32", f->info.name, item, x);
                if (st == TS_OK) st = list_append(r, f, &x, err, err_size);
                break;
            }
            case TS_FIELD_IDS: {
                int64_t x;
                st = json_int(f, e, item, &x, err, err_size);
                int32_t y = (int32_t)x;
                if (st == TS_OK) st = list_append(r, f, &y, err, err_size);
                break;
            }
            case TS_FIELD_STRINGS:
                if (!cJSON_IsString(e))
                    st = ts_errorf(err, err_size, TS_ERR_INVALID,
                                   "%s: %sexpected a string, got %s", f->info.name, item,
                                   json_type_name(e));
                else
                    st = list_append(r, f, e->valuestring, err, err_size);
                break;
            default: TS_ASSERT(0);
            }
        }
        break;
    }
    }
    if (st == TS_OK) r->set[i] = 1;
    return st;
}

ts_status rq_request_from_object(const ts_analysis *a, const cJSON *root, ts_request **out,
                                 char *err, size_t err_size)
{
    *out = NULL;
    ts_request *r;
    ts_status st = ts_request_new(a, &r, err, err_size);
    for (const cJSON *e = root->child; st == TS_OK && e; e = e->next) {
        if (strcmp(e->string, "model") == 0) continue; /* the session's business */
        int i = rq_field_index(a, e->string);
        if (i >= 0 && cJSON_IsNull(e)) continue;       /* null = not given, as OpenAI's API */
        if (i < 0 || strchr(e->string, '-') || (a->fields[i].info.flags & TS_FIELD_NO_JSON)) {
            const char *s = ts_analysis_suggest_field(a, e->string);
            st = ts_errorf(err, err_size, TS_ERR_INVALID, "%s: unknown field%s%s%s", e->string,
                           s ? " (did you mean " : "", s ? s : "", s ? "?)" : "");
            break;
        }
        st = rq_field_set_json(r, i, e, err, err_size);
    }
    if (st != TS_OK) {
        ts_request_free(r);
        return st;
    }
    *out = r;
    return TS_OK;
}

ts_status ts_request_from_json(const ts_analysis *a, const char *json, size_t len,
                               ts_request **out, char *err, size_t err_size)
{
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return ts_errorf(err, err_size, TS_ERR_FORMAT, "the body is not valid JSON");
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ts_errorf(err, err_size, TS_ERR_FORMAT, "the body must be a JSON object");
    }
    ts_status st = rq_request_from_object(a, root, out, err, err_size);
    cJSON_Delete(root);
    return st;
}

bool ts_request_ensure_seed(ts_request *r, uint64_t *seed)
{
    int i = rq_field_index(r->a, "seed");
    if (i < 0 || r->set[i]) return false;
    uint64_t s = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &s, sizeof s) != (ssize_t)sizeof s) s = 0;
        close(fd);
    }
    if (s == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
    }
    s &= 0xffffffffull; /* short enough to retype */
    *(uint64_t *)fptr(r, &r->a->fields[i]) = s;
    r->set[i] = 1;
    if (seed) *seed = s;
    return true;
}

/* ---- the command line that reproduces a request ---------------------------- */

static void put_option(rq_buf *b, const char *name)
{
    rq_buf_puts(b, " --");
    for (const char *p = name; *p; p++) rq_buf_put(b, *p == '_' ? "-" : p, 1);
}

char *ts_request_command_line(const ts_request *r, const char *extra)
{
    rq_buf b = {0};
    rq_buf_puts(&b, "tempscale ");
    rq_buf_puts(&b, r->a->name);
    for (size_t i = 0; i < r->a->n_fields; i++) {
        if (!r->set[i]) continue;
        const rq_field *f = &r->a->fields[i];
        const void *p = fptr(r, f);
        char num[48];
        rq_buf val = {0};
        switch (f->info.type) {
        case TS_FIELD_BOOL:
            if (*(const bool *)p) put_option(&b, f->info.name);
            continue;
        case TS_FIELD_INT:
            snprintf(num, sizeof num, "%lld",
                     f->i32 ? (long long)*(const int32_t *)p : (long long)*(const int64_t *)p);
            rq_buf_puts(&val, num);
            break;
        case TS_FIELD_U64:
            snprintf(num, sizeof num, "%llu", (unsigned long long)*(const uint64_t *)p);
            rq_buf_puts(&val, num);
            break;
        case TS_FIELD_DOUBLE:
            fmt_double(num, sizeof num, *(const double *)p);
            rq_buf_puts(&val, num);
            break;
        case TS_FIELD_STRING: {
            const rq_str *t = p;
            rq_buf_put(&val, t->s ? t->s : "", t->s ? strlen(t->s) : 0);
            break;
        }
        case TS_FIELD_ENUM: rq_buf_puts(&val, f->info.choices[*(const int *)p]); break;
        case TS_FIELD_DOUBLES: {
            const rq_doubles *d = p;
            for (size_t k = 0; k < d->n; k++) {
                fmt_double(num, sizeof num, d->v[k]);
                rq_buf_printf(&val, "%s%s", k ? "," : "", num);
            }
            break;
        }
        case TS_FIELD_FLOATS: {
            const rq_doubles *d = p;
            for (size_t k = 0; k < d->n; k++) {
                fmt_double(num, sizeof num, d->v[k]);
                rq_buf_printf(&val, "%s%s", k ? "," : "", num);
            }
            break;
        }
        case TS_FIELD_IDS: {
            const rq_ids *d = p;
            for (size_t k = 0; k < d->n; k++) rq_buf_printf(&val, "%s%d", k ? "," : "", (int)d->v[k]);
            break;
        }
        case TS_FIELD_BIAS: {
            const rq_bias *d = p;
            for (size_t k = 0; k < d->n; k++) {
                fmt_double(num, sizeof num, d->v[k].bias);
                rq_buf_printf(&val, "%s%d:%s", k ? "," : "", (int)d->v[k].token, num);
            }
            break;
        }
        case TS_FIELD_STRINGS: {
            const rq_strings *d = p;
            if (f->info.flags & TS_FIELD_REPEAT) {
                for (size_t k = 0; k < d->n; k++) {
                    put_option(&b, f->info.name);
                    rq_buf_puts(&b, " ");
                    rq_buf_shell_quote(&b, d->v[k]);
                }
                continue;
            }
            for (size_t k = 0; k < d->n; k++) rq_buf_printf(&val, "%s%s", k ? "," : "", d->v[k]);
            break;
        }
        }
        put_option(&b, f->info.name);
        rq_buf_puts(&b, " ");
        rq_buf_shell_quote(&b, val.p ? val.p : "");
        if (val.oom) b.oom = true;
        free(val.p);
    }
    if (extra) rq_buf_puts(&b, extra);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/*
 * plot.c — the cairo plotting core every figure uses: a canvas bound to an
 * output file (PNG / SVG / PDF by extension, written to a temp file and
 * renamed into place), aligned text, number formats, and the figure log that
 * lets tests see what a figure drew. Axes are in plot_axes.c, colours,
 * markers and legends in plot_style.c. The contract is in src/internal.h
 * ("plotting internals").
 *
 * Invariants: a ts_plot owns its cairo_t, surface and temp file until
 * ts_plot_end / ts_plot_abort; the target path is only ever touched by the
 * final rename, so a failed figure leaves no partial file.
 */
#include "internal.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <math.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>

#define TS_PLOT_FONT "DejaVu Sans"
#define PNG_SCALE    2.0

typedef enum { FMT_PNG, FMT_SVG, FMT_PDF } plot_format;

struct ts_plot {
    plot_format fmt;
    cairo_surface_t *surface;
    cairo_t *cr;
    FILE *f;        /* the temp file */
    char *path;     /* target (owned copy) */
    char tmp[4096]; /* temp path beside it */
};

static void log_begin(double width, double height, double scale);

static cairo_status_t write_stream(void *closure, const unsigned char *data, unsigned int len)
{
    FILE *f = closure;
    return fwrite(data, 1, len, f) == len ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

static bool ext_is(const char *path, const char *ext)
{
    size_t n = strlen(path), m = strlen(ext);
    return n > m && strcasecmp(path + n - m, ext) == 0;
}

ts_status ts_plot_begin(const char *path, double width, double height, ts_plot **out, char *err,
                        size_t err_size)
{
    *out = NULL;
    plot_format fmt;
    if (ext_is(path, ".png"))
        fmt = FMT_PNG;
    else if (ext_is(path, ".svg"))
        fmt = FMT_SVG;
    else if (ext_is(path, ".pdf"))
        fmt = FMT_PDF;
    else
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "%s: unknown plot format (expected a .png, .svg or .pdf file name)", path);
    if (!(width >= 16 && width <= 20000 && height >= 16 && height <= 20000))
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: figure size %gx%g out of range", path,
                         width, height);

    ts_plot *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path))) {
        free(p);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    }
    p->fmt = fmt;
    ts_status st = ts_atomic_open(path, &p->f, p->tmp, sizeof p->tmp, err, err_size);
    if (st != TS_OK) {
        free(p->path);
        free(p);
        return st;
    }
    switch (fmt) {
    case FMT_PNG:
        p->surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)ceil(width * PNG_SCALE),
                                                (int)ceil(height * PNG_SCALE));
        break;
    case FMT_SVG:
        p->surface = cairo_svg_surface_create_for_stream(write_stream, p->f, width, height);
        break;
    case FMT_PDF:
        p->surface = cairo_pdf_surface_create_for_stream(write_stream, p->f, width, height);
        break;
    }
    p->cr = cairo_create(p->surface);
    if (cairo_status(p->cr) != CAIRO_STATUS_SUCCESS) {
        ts_status e = ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: cannot create a %gx%g canvas: %s",
                                path, width, height, cairo_status_to_string(cairo_status(p->cr)));
        ts_plot_abort(p);
        return e;
    }
    if (fmt == FMT_PNG) cairo_scale(p->cr, PNG_SCALE, PNG_SCALE);
    log_begin(width, height, fmt == FMT_PNG ? PNG_SCALE : 1.0);
    cairo_set_source_rgb(p->cr, 1, 1, 1);
    cairo_rectangle(p->cr, 0, 0, width, height);
    cairo_fill(p->cr);
    ts_plot_bold(p->cr, false);
    cairo_set_font_size(p->cr, 10);
    cairo_set_source_rgb(p->cr, 0, 0, 0);
    *out = p;
    return TS_OK;
}

cairo_t *ts_plot_cairo(ts_plot *p)
{
    return p->cr;
}

static void plot_free(ts_plot *p)
{
    if (p->cr) cairo_destroy(p->cr);
    if (p->surface) cairo_surface_destroy(p->surface);
    free(p->path);
    free(p);
}

ts_status ts_plot_end(ts_plot *p, char *err, size_t err_size)
{
    cairo_status_t cs = cairo_status(p->cr);
    cairo_destroy(p->cr);
    p->cr = NULL;
    if (cs == CAIRO_STATUS_SUCCESS) {
        cairo_surface_flush(p->surface);
        if (p->fmt == FMT_PNG)
            cs = cairo_surface_write_to_png_stream(p->surface, write_stream, p->f);
        else
            cairo_surface_finish(p->surface); /* writes the SVG / PDF */
    }
    if (cs == CAIRO_STATUS_SUCCESS) cs = cairo_surface_status(p->surface);
    if (cs != CAIRO_STATUS_SUCCESS) {
        ts_status e = ts_errorf(err, err_size, TS_ERR_IO, "%s: cannot draw the figure: %s", p->path,
                                cairo_status_to_string(cs));
        ts_plot_abort(p);
        return e;
    }
    ts_status st = ts_atomic_commit(p->f, p->tmp, p->path, err, err_size);
    p->f = NULL;
    plot_free(p);
    return st;
}

void ts_plot_abort(ts_plot *p)
{
    if (!p) return;
    if (p->cr) {
        cairo_destroy(p->cr);
        p->cr = NULL;
    }
    if (p->surface) {
        /* Finishing a stream surface may still write: let it, then discard. */
        cairo_surface_finish(p->surface);
    }
    ts_atomic_abort(p->f, p->tmp);
    p->f = NULL;
    plot_free(p);
}

/* ---- the figure log ------------------------------------------------------ */

static _Thread_local ts_plot_log *active_log;
static _Thread_local double log_scale = 1.0; /* device units per point of the current figure */

void ts_plot_log_start(ts_plot_log *log)
{
    memset(log, 0, sizeof *log);
    active_log = log;
}

void ts_plot_log_stop(void)
{
    active_log = NULL;
}

void ts_plot_log_free(ts_plot_log *log)
{
    if (!log) return;
    if (active_log == log) active_log = NULL;
    free(log->items);
    memset(log, 0, sizeof *log);
}

static void log_begin(double width, double height, double scale)
{
    log_scale = scale;
    if (!active_log) return;
    active_log->width = width;
    active_log->height = height;
}

/* Append the device-space box (x0..x1, y0..y1), converted to points. */
static void log_item(cairo_t *cr, const char *role, double x0, double y0, double x1, double y1,
                     const char *text)
{
    ts_plot_log *log = active_log;
    if (!log) return;
    if (log->n == log->cap) {
        size_t cap = log->cap ? log->cap * 2 : 256;
        ts_plot_item *items = realloc(log->items, cap * sizeof *items);
        if (!items) {
            log->oom = true;
            return;
        }
        log->items = items;
        log->cap = cap;
    }
    ts_plot_item *it = &log->items[log->n++];
    memset(it, 0, sizeof *it);
    snprintf(it->role, sizeof it->role, "%s", role);
    if (text) snprintf(it->text, sizeof it->text, "%s", text);
    it->x = x0 / log_scale;
    it->y = y0 / log_scale;
    it->w = (x1 - x0) / log_scale;
    it->h = (y1 - y0) / log_scale;
    cairo_pattern_t *src = cairo_get_source(cr);
    if (cairo_pattern_get_type(src) == CAIRO_PATTERN_TYPE_SOLID)
        cairo_pattern_get_rgba(src, &it->r, &it->g, &it->b, &it->a);
}

/* Log the user-space rectangle (x, y, w, h) under the current transform. */
static void log_user_box(cairo_t *cr, const char *role, double x, double y, double w, double h,
                         const char *text)
{
    double cx[4] = {x, x + w, x, x + w}, cy[4] = {y, y, y + h, y + h};
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    for (int i = 0; i < 4; i++) {
        cairo_user_to_device(cr, &cx[i], &cy[i]);
        x0 = fmin(x0, cx[i]);
        x1 = fmax(x1, cx[i]);
        y0 = fmin(y0, cy[i]);
        y1 = fmax(y1, cy[i]);
    }
    log_item(cr, role, x0, y0, x1, y1, text);
}

void ts_plot_note(cairo_t *cr, const char *role, double x, double y, double w, double h,
                  const char *text)
{
    if (!active_log) return;
    if (w < 0) {
        x += w;
        w = -w;
    }
    if (h < 0) {
        y += h;
        h = -h;
    }
    log_user_box(cr, role, x, y, w, h, text);
}

cairo_t *ts_plot_scratch(void)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_A8, 1, 1);
    cairo_t *cr = cairo_create(s);
    cairo_surface_destroy(s); /* cr holds its own reference */
    ts_plot_bold(cr, false);
    cairo_set_font_size(cr, 10);
    return cr;
}

static bool key_before(double a, double b)
{
    if (isnan(b)) return !isnan(a);
    if (isnan(a)) return false;
    return a < b;
}

void ts_plot_order(const double *key, size_t n, size_t *idx)
{
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0 && key_before(key[i], key[idx[j - 1]])) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
}

/* ---- numbers --------------------------------------------------------------- */

void ts_plot_format_sig(char *buf, size_t size, double v, int sig)
{
    if (sig < 1) sig = 1;
    if (sig > 15) sig = 15;
    if (isnan(v)) {
        snprintf(buf, size, "n/a");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "\u221e" : "\u2212\u221e");
        return;
    }
    double a = fabs(v);
    if (a == 0) {
        snprintf(buf, size, "0");
        return;
    }
    if (a >= 1e-5 && a < 1e7) {
        /* Fixed notation with as many decimals as sig significant digits need. */
        int mag = (int)floor(log10(a));
        int dec = sig - 1 - mag;
        if (dec < 0) dec = 0;
        snprintf(buf, size, "%.*f", dec, v);
        /* Rounding may carry into a new digit (9.995 -> 10.00): drop the extra decimal. */
        if (dec > 0 && fabs(strtod(buf, NULL)) >= pow(10.0, mag + 1))
            snprintf(buf, size, "%.*f", dec - 1, v);
        /* Trailing zeros after the point say nothing here (%g's habit). */
        if (strchr(buf, '.')) {
            size_t n = strlen(buf);
            while (n > 0 && buf[n - 1] == '0')
                buf[--n] = '\0';
            if (n > 0 && buf[n - 1] == '.') buf[--n] = '\0';
        }
    } else {
        snprintf(buf, size, "%.*g", sig, v);
    }
    if (strcmp(buf, "-0") == 0) snprintf(buf, size, "0");
}

void ts_plot_format_temperature(char *buf, size_t size, double t)
{
    if (t == 0)
        snprintf(buf, size, "0");
    else if (isinf(t) && t > 0)
        snprintf(buf, size, "\u221e");
    else
        ts_plot_format_sig(buf, size, t, 3);
}

void ts_plot_visible_text(const char *in, bool dot_spaces, size_t max_chars, char *out, size_t size)
{
    size_t o = 0, chars = 0;
    out[0] = '\0';
    for (const unsigned char *p = (const unsigned char *)(in ? in : ""); *p;) {
        const char *rep = NULL;
        size_t len = 1;
        char tmp[8];
        if (*p == '\n')
            rep = "\u21b5";
        else if (*p == '\t')
            rep = "\u2192";
        else if (*p == '\r')
            rep = "\u240d";
        else if (*p < 0x20 || *p == 0x7f)
            rep = "\ufffd";
        else if (*p == ' ' && dot_spaces)
            rep = "\u00b7";
        else {
            /* One UTF-8 sequence, copied whole (a stray continuation byte is one unit). */
            while (len < 4 && (p[len] & 0xc0) == 0x80)
                len++;
            memcpy(tmp, p, len);
            tmp[len] = '\0';
            rep = tmp;
        }
        if (max_chars && chars + 1 >= max_chars && p[len]) {
            /* More follows and there is room for one more code point only: the ellipsis. */
            rep = "\u2026";
            len = strlen((const char *)p);
        }
        size_t rl = strlen(rep);
        if (o + rl + 1 > size) break;
        memcpy(out + o, rep, rl);
        o += rl;
        out[o] = '\0';
        chars++;
        p += len;
    }
}

/* ---- text ---------------------------------------------------------------- */

void ts_plot_bold(cairo_t *cr, bool bold)
{
    cairo_select_font_face(cr, TS_PLOT_FONT, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
}

double ts_plot_text_width(cairo_t *cr, double size, const char *utf8)
{
    cairo_set_font_size(cr, size);
    cairo_text_extents_t te;
    cairo_text_extents(cr, utf8, &te);
    return te.x_advance;
}

double ts_plot_text_height(cairo_t *cr, double size)
{
    cairo_set_font_size(cr, size);
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    return fe.ascent + fe.descent;
}

void ts_plot_text_as(cairo_t *cr, const char *role, double x, double y, double size, double align_x,
                     double align_y, double angle, const char *utf8)
{
    if (!utf8 || !*utf8) return;
    cairo_save(cr);
    cairo_set_font_size(cr, size);
    cairo_font_extents_t fe;
    cairo_text_extents_t te;
    cairo_font_extents(cr, &fe);
    cairo_text_extents(cr, utf8, &te);
    cairo_translate(cr, x, y);
    if (angle != 0.0) cairo_rotate(cr, angle);
    double h = fe.ascent + fe.descent;
    double x0 = -align_x * te.x_advance, y0 = -align_y * h;
    cairo_move_to(cr, x0, y0 + fe.ascent);
    cairo_show_text(cr, utf8);
    cairo_new_path(cr);
    if (active_log) log_user_box(cr, role, x0, y0, te.x_advance, h, utf8);
    cairo_restore(cr);
}

void ts_plot_text_rotated(cairo_t *cr, double x, double y, double size, double align_x,
                          double align_y, double angle, const char *utf8)
{
    ts_plot_text_as(cr, "text", x, y, size, align_x, align_y, angle, utf8);
}

void ts_plot_text(cairo_t *cr, double x, double y, double size, double align_x, double align_y,
                  const char *utf8)
{
    ts_plot_text_as(cr, "text", x, y, size, align_x, align_y, 0.0, utf8);
}

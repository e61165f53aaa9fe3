/*
 * plot.c — the cairo plotting core every figure uses: a canvas bound to an
 * output file (PNG / SVG / PDF by extension, written to a temp file and
 * renamed into place), axes with nice ticks, aligned text, a palette and a
 * legend. The contract is in src/internal.h ("plotting internals").
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

/* ---- axes ---------------------------------------------------------------- */

double ts_axes_px(const ts_axes *a, double v)
{
    double t = a->xlog ? (log10(v) - log10(a->xmin)) / (log10(a->xmax) - log10(a->xmin))
                       : (v - a->xmin) / (a->xmax - a->xmin);
    return a->x + t * a->w;
}

double ts_axes_py(const ts_axes *a, double v)
{
    double t = a->ylog ? (log10(v) - log10(a->ymin)) / (log10(a->ymax) - log10(a->ymin))
                       : (v - a->ymin) / (a->ymax - a->ymin);
    return a->y + a->h - t * a->h;
}

void ts_axes_clip(cairo_t *cr, const ts_axes *a)
{
    cairo_save(cr);
    cairo_rectangle(cr, a->x, a->y, a->w, a->h);
    cairo_clip(cr);
}

#define MAX_TICKS 32

/* 1-2-5 step giving about `target` intervals over [lo, hi]. */
static double nice_step(double lo, double hi, int target)
{
    double raw = (hi - lo) / target;
    if (!(raw > 0) || !isfinite(raw)) return 1.0;
    double mag = pow(10.0, floor(log10(raw)));
    double norm = raw / mag;
    double m = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
    return m * mag;
}

static int linear_ticks(double lo, double hi, int target, double *ticks, double *step_out)
{
    double step = nice_step(lo, hi, target);
    *step_out = step;
    int n = 0;
    double eps = step * 1e-9;
    for (double k = ceil((lo - eps) / step); n < MAX_TICKS; k += 1.0) {
        double v = k * step;
        if (v > hi + eps) break;
        ticks[n++] = fabs(v) < eps ? 0.0 : v;
    }
    return n;
}

static int log_ticks(double lo, double hi, double *ticks)
{
    int k0 = (int)floor(log10(lo) + 1e-9), k1 = (int)ceil(log10(hi) - 1e-9);
    int decades = k1 - k0;
    int stride = decades > 12 ? (decades + 7) / 8 : 1; /* at most ~8 decade labels */
    int n = 0;
    for (int k = k0; k <= k1 && n < MAX_TICKS; k++) {
        static const double mult[3] = {1, 2, 5};
        for (int j = 0; j < (decades <= 2 ? 3 : 1) && n < MAX_TICKS; j++) {
            if (j == 0 && (k - k0) % stride != 0) continue;
            double v = mult[j] * pow(10.0, k);
            if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks[n++] = v;
        }
    }
    return n;
}

static void format_tick(char *buf, size_t n, double v, double step, bool logscale)
{
    if (logscale) {
        double e = log10(v);
        if (fabs(e - round(e)) < 1e-9 && (e < -3 || e > 4))
            snprintf(buf, n, "1e%d", (int)round(e));
        else
            snprintf(buf, n, "%g", v);
        return;
    }
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 6 || fabs(v) >= 1e6)
        snprintf(buf, n, "%g", v);
    else
        snprintf(buf, n, "%.*f", dec, v);
    if (strcmp(buf, "-0") == 0) snprintf(buf, n, "0");
}

void ts_axes_frame(cairo_t *cr, const ts_axes *a, const char *title, const char *xlabel,
                   const char *ylabel)
{
    const double tick_size = 9.0, label_size = 10.5, title_size = 11.5;
    cairo_save(cr);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);

    /* background */
    if (a->emphasis)
        cairo_set_source_rgb(cr, 1.0, 0.965, 0.925);
    else
        cairo_set_source_rgb(cr, 0.985, 0.985, 0.985);
    cairo_rectangle(cr, a->x, a->y, a->w, a->h);
    cairo_fill(cr);

    double xt[MAX_TICKS], yt[MAX_TICKS], xstep = 1, ystep = 1;
    int nx = 0, ny = 0;
    if (!a->hide_xticks)
        nx = a->xlog ? log_ticks(a->xmin, a->xmax, xt)
                     : linear_ticks(a->xmin, a->xmax, a->w > 300 ? 8 : 5, xt, &xstep);
    if (!a->hide_yticks)
        ny = a->ylog ? log_ticks(a->ymin, a->ymax, yt)
                     : linear_ticks(a->ymin, a->ymax, a->h > 250 ? 6 : 4, yt, &ystep);

    /* grid */
    cairo_set_line_width(cr, 0.6);
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    for (int i = 0; i < nx; i++) {
        double px = round(ts_axes_px(a, xt[i])) + 0.25;
        cairo_move_to(cr, px, a->y);
        cairo_line_to(cr, px, a->y + a->h);
    }
    for (int i = 0; i < ny; i++) {
        double py = round(ts_axes_py(a, yt[i])) + 0.25;
        cairo_move_to(cr, a->x, py);
        cairo_line_to(cr, a->x + a->w, py);
    }
    cairo_stroke(cr);

    /* frame */
    if (a->emphasis) {
        cairo_set_line_width(cr, 1.8);
        cairo_set_source_rgb(cr, 0.85, 0.37, 0.01);
    } else {
        cairo_set_line_width(cr, 0.8);
        cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    }
    cairo_rectangle(cr, a->x, a->y, a->w, a->h);
    cairo_stroke(cr);

    /* ticks and labels */
    char buf[64];
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_set_line_width(cr, 0.8);
    ts_plot_bold(cr, false);
    for (int i = 0; i < nx; i++) {
        double px = ts_axes_px(a, xt[i]);
        cairo_move_to(cr, px, a->y + a->h);
        cairo_line_to(cr, px, a->y + a->h + 3.5);
        cairo_stroke(cr);
        format_tick(buf, sizeof buf, xt[i], xstep, a->xlog);
        ts_plot_text(cr, px, a->y + a->h + 5, tick_size, 0.5, 0.0, buf);
    }
    for (int i = 0; i < ny; i++) {
        double py = ts_axes_py(a, yt[i]);
        cairo_move_to(cr, a->x - 3.5, py);
        cairo_line_to(cr, a->x, py);
        cairo_stroke(cr);
        format_tick(buf, sizeof buf, yt[i], ystep, a->ylog);
        ts_plot_text(cr, a->x - 6, py, tick_size, 1.0, 0.5, buf);
    }

    /* labels */
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    if (xlabel)
        ts_plot_text(cr, a->x + a->w / 2, a->y + a->h + (a->hide_xticks ? 8 : 20), label_size, 0.5,
                     0.0, xlabel);
    if (ylabel) {
        double widest = 0;
        for (int i = 0; i < ny; i++) {
            format_tick(buf, sizeof buf, yt[i], ystep, a->ylog);
            double w = ts_plot_text_width(cr, tick_size, buf);
            if (w > widest) widest = w;
        }
        ts_plot_text_rotated(cr, a->x - 12 - widest, a->y + a->h / 2, label_size, 0.5, 1.0,
                             -M_PI / 2, ylabel);
    }
    if (title) {
        ts_plot_bold(cr, a->emphasis);
        if (a->emphasis) cairo_set_source_rgb(cr, 0.75, 0.30, 0.0);
        ts_plot_text(cr, a->x + a->w / 2, a->y - 6, title_size, 0.5, 1.0, title);
        ts_plot_bold(cr, false);
    }
    cairo_restore(cr);
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

void ts_plot_text_rotated(cairo_t *cr, double x, double y, double size, double align_x,
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
    cairo_move_to(cr, -align_x * te.x_advance, -align_y * h + fe.ascent);
    cairo_show_text(cr, utf8);
    cairo_new_path(cr);
    cairo_restore(cr);
}

void ts_plot_text(cairo_t *cr, double x, double y, double size, double align_x, double align_y,
                  const char *utf8)
{
    ts_plot_text_rotated(cr, x, y, size, align_x, align_y, 0.0, utf8);
}

/* ---- colours and legend -------------------------------------------------- */

void ts_plot_color(cairo_t *cr, int i, double alpha)
{
    static const unsigned tableau10[10] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                           0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};
    unsigned c = tableau10[((i % 10) + 10) % 10];
    cairo_set_source_rgba(cr, ((c >> 16) & 0xff) / 255.0, ((c >> 8) & 0xff) / 255.0,
                          (c & 0xff) / 255.0, alpha);
}

void ts_plot_legend(cairo_t *cr, double x, double y, const char *const *labels,
                    const int *color_idx, size_t n)
{
    const double size = 9.0, row = 14.0, pad = 6.0, sw = 14.0;
    double widest = 0;
    cairo_save(cr);
    ts_plot_bold(cr, false);
    for (size_t i = 0; i < n; i++) {
        double w = ts_plot_text_width(cr, size, labels[i]);
        if (w > widest) widest = w;
    }
    double bw = pad * 2 + sw + 5 + widest, bh = pad * 2 + row * (double)n - 2;
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_rectangle(cr, x, y, bw, bh);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.75, 0.75, 0.75);
    cairo_set_line_width(cr, 0.6);
    cairo_stroke(cr);
    for (size_t i = 0; i < n; i++) {
        double cy = y + pad + row * (double)i + (row - 2) / 2;
        ts_plot_color(cr, color_idx ? color_idx[i] : (int)i, 1.0);
        cairo_rectangle(cr, x + pad, cy - 4, sw, 8);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        ts_plot_text(cr, x + pad + sw + 5, cy, size, 0.0, 0.5, labels[i]);
    }
    cairo_restore(cr);
}

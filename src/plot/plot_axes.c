/*
 * plot_axes.c — axes for every figure: data -> point mapping (linear, log,
 * and log temperature axes with slots for T = 0 and T = inf at the ends),
 * tick choice that keeps labels from colliding, the frame (background, grid,
 * spines, tick labels, title and axis labels) and the vertical colour bar.
 * Contract in src/internal.h ("plotting internals").
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_TICKS  40
#define TICK_SIZE  9.0
#define LABEL_SIZE 10.5
#define TITLE_SIZE 11.5

/* The x extent that holds the finite data range (inside the end slots). */
static void x_inner(const ts_axes *a, double *x0, double *w)
{
    double l = a->x_zero_end ? TS_AXES_END_SLOT : 0.0;
    double r = a->x_inf_end ? TS_AXES_END_SLOT : 0.0;
    *x0 = a->x + l;
    *w = a->w - l - r;
}

double ts_axes_px(const ts_axes *a, double v)
{
    if (a->x_zero_end && v <= 0) return a->x + TS_AXES_END_SLOT / 2;
    if (a->x_inf_end && isinf(v) && v > 0) return a->x + a->w - TS_AXES_END_SLOT / 2;
    double x0, w;
    x_inner(a, &x0, &w);
    double t = a->xlog ? (log10(v) - log10(a->xmin)) / (log10(a->xmax) - log10(a->xmin))
                       : (v - a->xmin) / (a->xmax - a->xmin);
    return x0 + t * w;
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

/* ---- ticks ----------------------------------------------------------------- */

typedef struct tickset {
    double v[MAX_TICKS]; /* labelled */
    int n;
    double minor[MAX_TICKS]; /* unlabelled, no grid line */
    int n_minor;
    double step; /* linear step (decimals of the labels) */
    bool log;
} tickset;

static void format_tick(char *buf, size_t n, double v, const tickset *t)
{
    if (t->log) {
        double e = log10(v);
        if (fabs(e - round(e)) < 1e-9 && (e < -3 || e > 4))
            snprintf(buf, n, "1e%d", (int)round(e));
        else
            snprintf(buf, n, "%g", v);
        return;
    }
    int dec = t->step >= 1 ? 0 : (int)ceil(-log10(t->step) - 1e-9);
    if (dec > 6 || fabs(v) >= 1e6)
        snprintf(buf, n, "%g", v);
    else
        snprintf(buf, n, "%.*f", dec, v);
    if (strcmp(buf, "-0") == 0) snprintf(buf, n, "0");
}

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

static void linear_ticks(double lo, double hi, int target, tickset *t)
{
    double step = nice_step(lo, hi, target);
    t->step = step;
    t->n = 0;
    double eps = step * 1e-9;
    for (double k = ceil((lo - eps) / step); t->n < MAX_TICKS; k += 1.0) {
        double v = k * step;
        if (v > hi + eps) break;
        t->v[t->n++] = fabs(v) < eps ? 0.0 : v;
    }
}

/* Position (points along the axis) of v for a tick-fit check. */
static double tick_pos(double v, double lo, double hi, bool logscale, double length)
{
    return logscale ? (log10(v) - log10(lo)) / (log10(hi) - log10(lo)) * length
                    : (v - lo) / (hi - lo) * length;
}

/* True when the labels of t, at their positions, leave a gap between neighbours. */
static bool labels_fit(cairo_t *cr, const tickset *t, double lo, double hi, double length,
                       bool horizontal)
{
    char a[64], b[64];
    double lh = ts_plot_text_height(cr, TICK_SIZE);
    for (int i = 0; i + 1 < t->n; i++) {
        double d = tick_pos(t->v[i + 1], lo, hi, t->log, length) -
                   tick_pos(t->v[i], lo, hi, t->log, length);
        double need;
        if (horizontal) {
            format_tick(a, sizeof a, t->v[i], t);
            format_tick(b, sizeof b, t->v[i + 1], t);
            need =
                (ts_plot_text_width(cr, TICK_SIZE, a) + ts_plot_text_width(cr, TICK_SIZE, b)) / 2 +
                7.0;
        } else {
            need = lh + 3.0;
        }
        if (d < need) return false;
    }
    return true;
}

/* Decade ticks every `stride` decades; with mult {1,2,5} when all3. */
static void log_level(double lo, double hi, bool all3, int stride, tickset *t)
{
    int k0 = (int)floor(log10(lo) + 1e-9), k1 = (int)ceil(log10(hi) - 1e-9);
    t->n = t->n_minor = 0;
    t->log = true;
    for (int k = k0; k <= k1; k++) {
        for (int m = 1; m <= 9; m++) {
            double v = m * pow(10.0, k);
            if (v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9)) continue;
            bool major =
                m == 1 ? ((k % stride) + stride) % stride == 0 : all3 && (m == 2 || m == 5);
            if (major && t->n < MAX_TICKS)
                t->v[t->n++] = v;
            else if (!major && t->n_minor < MAX_TICKS && (stride == 1 || m == 1))
                t->minor[t->n_minor++] = v;
        }
    }
}

static void make_ticks(cairo_t *cr, double lo, double hi, bool logscale, bool integer,
                       double length, bool horizontal, tickset *t)
{
    memset(t, 0, sizeof *t);
    if (!(hi > lo) || !isfinite(lo) || !isfinite(hi)) return;
    if (logscale && lo > 0) {
        log_level(lo, hi, true, 1, t);
        if (t->n >= 2 && labels_fit(cr, t, lo, hi, length, horizontal)) return;
        if (t->n < 2) {
            /* Less than ~half a decade: linear steps read better, placed on the log axis. */
            int target = (int)fmax(2, length / (horizontal ? 70 : 40));
            for (; target >= 1; target--) {
                linear_ticks(lo, hi, target, t);
                t->log = true; /* positions are logarithmic */
                t->n_minor = 0;
                /* labels: linear format with the step's decimals */
                if (labels_fit(cr, t, lo, hi, length, horizontal)) break;
            }
            t->log = false;
            /* Keep the log positions for the fit test only; callers map with the axes. */
            return;
        }
        for (int stride = 1; stride <= 1000; stride = stride < 2   ? 2
                                                      : stride < 5 ? 5
                                                                   : stride * 2) {
            log_level(lo, hi, false, stride, t);
            if (labels_fit(cr, t, lo, hi, length, horizontal)) return;
        }
        return;
    }
    int target = (int)fmax(3, fmin(horizontal ? 12 : 8, length / (horizontal ? 50 : 30)));
    for (; target >= 1; target--) {
        linear_ticks(lo, hi, target, t);
        if (integer && t->step < 1) continue;
        if (labels_fit(cr, t, lo, hi, length, horizontal)) return;
    }
    if (integer && t->step < 1) {
        /* A range narrower than 1: the whole numbers inside it. */
        t->step = 1;
        t->n = 0;
        for (double v = ceil(lo); v <= hi && t->n < MAX_TICKS; v += 1)
            t->v[t->n++] = v;
    }
}

static void axis_ticks(cairo_t *cr, const ts_axes *a, char axis, tickset *t)
{
    if (axis == 'x') {
        double x0, w;
        x_inner(a, &x0, &w);
        make_ticks(cr, a->xmin, a->xmax, a->xlog, a->x_integer, w, true, t);
    } else {
        make_ticks(cr, a->ymin, a->ymax, a->ylog, false, a->h, false, t);
    }
}

size_t ts_axes_ticks(cairo_t *cr, const ts_axes *a, char axis, double *ticks, size_t max)
{
    tickset t;
    cairo_save(cr);
    axis_ticks(cr, a, axis, &t);
    cairo_restore(cr);
    size_t n = 0;
    for (int i = 0; i < t.n && n < max; i++)
        ticks[n++] = t.v[i];
    return n;
}

/* A short "//" break mark across the bottom or top spine at x. */
static void break_mark(cairo_t *cr, double x, double y)
{
    cairo_save(cr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_rectangle(cr, x - 2.5, y - 1.5, 5, 3);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    cairo_set_line_width(cr, 0.8);
    for (int i = -1; i <= 1; i += 2) {
        cairo_move_to(cr, x + i * 2.5 - 2, y + 3.5);
        cairo_line_to(cr, x + i * 2.5 + 2, y - 3.5);
    }
    cairo_stroke(cr);
    cairo_restore(cr);
}

void ts_axes_frame(cairo_t *cr, const ts_axes *a, const char *title, const char *xlabel,
                   const char *ylabel)
{
    cairo_save(cr);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    ts_plot_bold(cr, false);

    /* background */
    if (a->emphasis)
        cairo_set_source_rgb(cr, 1.0, 0.965, 0.925);
    else
        cairo_set_source_rgb(cr, 0.985, 0.985, 0.985);
    cairo_rectangle(cr, a->x, a->y, a->w, a->h);
    cairo_fill(cr);
    double xi0, xiw;
    x_inner(a, &xi0, &xiw);
    /* End slots (T = 0, T = inf) a shade darker: outside the continuous axis. */
    cairo_set_source_rgb(cr, 0.945, 0.945, 0.945);
    if (a->x_zero_end) cairo_rectangle(cr, a->x, a->y, TS_AXES_END_SLOT, a->h);
    if (a->x_inf_end) cairo_rectangle(cr, xi0 + xiw, a->y, TS_AXES_END_SLOT, a->h);
    cairo_fill(cr);

    tickset xt = {0}, yt = {0};
    if (!a->hide_xticks) axis_ticks(cr, a, 'x', &xt);
    if (!a->hide_yticks) axis_ticks(cr, a, 'y', &yt);

    /* grid (major ticks only) */
    cairo_set_line_width(cr, 0.6);
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    for (int i = 0; i < xt.n; i++) {
        double px = round(ts_axes_px(a, xt.v[i])) + 0.25;
        cairo_move_to(cr, px, a->y);
        cairo_line_to(cr, px, a->y + a->h);
    }
    for (int i = 0; i < yt.n; i++) {
        double py = round(ts_axes_py(a, yt.v[i])) + 0.25;
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
    ts_plot_note(cr, "axes", a->x, a->y, a->w, a->h, title);
    /* Separators of the end slots: thin dotted lines and break marks on the spines. */
    if (a->x_zero_end || a->x_inf_end) {
        double sep[2] = {xi0, xi0 + xiw};
        bool has[2] = {a->x_zero_end, a->x_inf_end};
        double dots[2] = {1.0, 2.5};
        for (int i = 0; i < 2; i++) {
            if (!has[i]) continue;
            cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
            cairo_set_line_width(cr, 0.6);
            cairo_set_dash(cr, dots, 2, 0);
            cairo_move_to(cr, sep[i], a->y);
            cairo_line_to(cr, sep[i], a->y + a->h);
            cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
            break_mark(cr, sep[i], a->y + a->h);
            break_mark(cr, sep[i], a->y);
        }
    }

    /* ticks and labels */
    char buf[64];
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_set_line_width(cr, 0.8);
    for (int i = 0; i < xt.n_minor; i++) {
        double px = ts_axes_px(a, xt.minor[i]);
        cairo_move_to(cr, px, a->y + a->h);
        cairo_line_to(cr, px, a->y + a->h + 2.0);
    }
    for (int i = 0; i < yt.n_minor; i++) {
        double py = ts_axes_py(a, yt.minor[i]);
        cairo_move_to(cr, a->x - 2.0, py);
        cairo_line_to(cr, a->x, py);
    }
    cairo_stroke(cr);
    for (int i = 0; i < xt.n; i++) {
        double px = ts_axes_px(a, xt.v[i]);
        cairo_move_to(cr, px, a->y + a->h);
        cairo_line_to(cr, px, a->y + a->h + 3.5);
        cairo_stroke(cr);
        format_tick(buf, sizeof buf, xt.v[i], &xt);
        /* A label that would run into the "0" / "∞" of an end slot keeps only its tick. */
        double half = ts_plot_text_width(cr, TICK_SIZE, buf) / 2;
        if ((a->x_zero_end && px - half < a->x + TS_AXES_END_SLOT / 2 + 8) ||
            (a->x_inf_end && px + half > a->x + a->w - TS_AXES_END_SLOT / 2 - 8))
            continue;
        ts_plot_text_as(cr, "xtick", px, a->y + a->h + 5, TICK_SIZE, 0.5, 0.0, 0.0, buf);
    }
    if (!a->hide_xticks) {
        const char *ends[2] = {"0", "\u221e"};
        bool has[2] = {a->x_zero_end, a->x_inf_end};
        double at[2] = {a->x + TS_AXES_END_SLOT / 2, a->x + a->w - TS_AXES_END_SLOT / 2};
        for (int i = 0; i < 2; i++) {
            if (!has[i]) continue;
            cairo_move_to(cr, at[i], a->y + a->h);
            cairo_line_to(cr, at[i], a->y + a->h + 3.5);
            cairo_stroke(cr);
            ts_plot_text_as(cr, "xtick", at[i], a->y + a->h + 5, TICK_SIZE + (i ? 1.5 : 0), 0.5,
                            0.0, 0.0, ends[i]);
        }
    }
    double widest = 0;
    for (int i = 0; i < yt.n; i++) {
        double py = ts_axes_py(a, yt.v[i]);
        cairo_move_to(cr, a->x - 3.5, py);
        cairo_line_to(cr, a->x, py);
        cairo_stroke(cr);
        format_tick(buf, sizeof buf, yt.v[i], &yt);
        widest = fmax(widest, ts_plot_text_width(cr, TICK_SIZE, buf));
        ts_plot_text_as(cr, "ytick", a->x - 6, py, TICK_SIZE, 1.0, 0.5, 0.0, buf);
    }

    /* labels */
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    if (xlabel)
        ts_plot_text_as(cr, "xlabel", a->x + a->w / 2, a->y + a->h + (a->hide_xticks ? 8 : 20),
                        LABEL_SIZE, 0.5, 0.0, 0.0, xlabel);
    if (ylabel)
        ts_plot_text_as(cr, "ylabel", a->x - 12 - widest, a->y + a->h / 2, LABEL_SIZE, 0.5, 1.0,
                        -M_PI / 2, ylabel);
    if (title) {
        ts_plot_bold(cr, a->emphasis);
        if (a->emphasis) cairo_set_source_rgb(cr, 0.75, 0.30, 0.0);
        ts_plot_text_as(cr, "title", a->x + a->w / 2, a->y - 6, TITLE_SIZE, 0.5, 1.0, 0.0, title);
        ts_plot_bold(cr, false);
    }
    cairo_restore(cr);
}

/* ---- colour bar ------------------------------------------------------------- */

/* Ticks of a colour bar of height h over [vmin, vmax] (a constant field opened around it). */
static void colorbar_ticks(cairo_t *cr, double h, double *vmin, double *vmax, bool log_scale,
                           tickset *t)
{
    if (!(*vmax > *vmin)) {
        double c = *vmin;
        *vmin = log_scale ? c / 2 : c - 0.5;
        *vmax = log_scale ? c * 2 : c + 0.5;
    }
    make_ticks(cr, *vmin, *vmax, log_scale, false, h, false, t);
}

double ts_plot_colorbar_width(cairo_t *cr, double h, double vmin, double vmax, bool log_scale,
                              const char *label)
{
    cairo_save(cr);
    ts_plot_bold(cr, false);
    tickset t;
    colorbar_ticks(cr, h, &vmin, &vmax, log_scale, &t);
    char buf[64];
    double widest = 0;
    for (int i = 0; i < t.n; i++) {
        format_tick(buf, sizeof buf, t.v[i], &t);
        widest = fmax(widest, ts_plot_text_width(cr, TICK_SIZE, buf));
    }
    double used = 6 + widest + (label ? 6 + ts_plot_text_height(cr, LABEL_SIZE) : 0);
    cairo_restore(cr);
    return used;
}

double ts_plot_colorbar(cairo_t *cr, double x, double y, double w, double h, ts_cmap map,
                        double vmin, double vmax, bool log_scale, const char *label)
{
    cairo_save(cr);
    ts_plot_bold(cr, false);
    tickset t;
    colorbar_ticks(cr, h, &vmin, &vmax, log_scale, &t);
    /* The gradient as thin strips (renders the same in PNG, SVG and PDF). */
    const int strips = 128;
    for (int i = 0; i < strips; i++) {
        double u0 = (double)i / strips;
        ts_plot_set_rgb(cr, ts_plot_cmap(map, (i + 0.5) / strips), 1.0);
        double y1 = y + h - u0 * h;
        cairo_rectangle(cr, x, y1 - h / strips - 0.3, w, h / strips + 0.6);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    cairo_set_line_width(cr, 0.8);
    cairo_rectangle(cr, x, y, w, h);
    cairo_stroke(cr);
    ts_plot_note(cr, "colorbar", x, y, w, h, label);

    ts_axes a = {.x = x,
                 .y = y,
                 .w = w,
                 .h = h,
                 .xmin = 0,
                 .xmax = 1,
                 .ymin = vmin,
                 .ymax = vmax,
                 .ylog = log_scale};
    char buf[64];
    double widest = 0;
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    for (int i = 0; i < t.n; i++) {
        double py = ts_axes_py(&a, t.v[i]);
        cairo_move_to(cr, x + w, py);
        cairo_line_to(cr, x + w + 3.5, py);
        cairo_stroke(cr);
        format_tick(buf, sizeof buf, t.v[i], &t);
        widest = fmax(widest, ts_plot_text_width(cr, TICK_SIZE, buf));
        ts_plot_text_as(cr, "ytick", x + w + 6, py, TICK_SIZE, 0.0, 0.5, 0.0, buf);
    }
    double used = 6 + widest;
    if (label) {
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        ts_plot_text_as(cr, "ylabel", x + w + used + 6, y + h / 2, LABEL_SIZE, 0.5, 0.0, -M_PI / 2,
                        label);
        used += 6 + ts_plot_text_height(cr, LABEL_SIZE);
    }
    cairo_restore(cr);
    return used;
}

/*
 * plot_map.c — the truncation x temperature map: why the order of the
 * sampler steps matters. Two heatmaps of one quantity (entropy, support size,
 * mass kept) over a grid of T (x, log) and a truncation parameter (y: top-p,
 * min-p or top-k), one in Hugging Face's order (temperature, then truncation)
 * and one in llama.cpp's (truncation, then temperature), on one shared colour
 * scale (viridis) so equal colours mean equal values; then their difference
 * llama.cpp - HF on a diverging scale centred on 0 (RdBu: blue where
 * llama.cpp is lower, red where higher). Cells are equal, in grid order
 * (seaborn's heatmap: a log-spaced T grid reads as a log axis, and the
 * crowded end of a top-p grid, 0.9 / 0.95 / 0.99, stays legible), ticked with
 * the grid values; when a cell can hold its value it is written in it.
 * Contract: ts_plot_truncation_map in include/tempscale.h.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define CELL_MIN   22.0
#define CELL_MAX   56.0
#define PANEL_MAX  380.0
#define PANEL_MIN  220.0
#define CBAR_W     14.0
#define VALUE_SIZE 7.5

/* A cell's value, short: 3 (2 for differences) significant digits, small ones as 2.5e-6. */
static void format_cell(char *buf, size_t n, double v, int sig)
{
    if (v != 0 && fabs(v) < 1e-3 && isfinite(v)) {
        int e = (int)floor(log10(fabs(v)));
        double m = v / pow(10.0, e);
        if (fabs(m) >= 9.95) {
            m /= 10;
            e++;
        }
        snprintf(buf, n, "%.1fe%d", m, e);
    } else {
        ts_plot_format_sig(buf, n, v, sig);
    }
}

/* Relative luminance of c (sRGB, no gamma): dark cells get white text. */
static double luminance(ts_rgb c)
{
    return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b;
}

/* Where v falls on a colour scale [lo, hi] (log or linear), in [0, 1]. */
static double scale_u(double v, double lo, double hi, bool logscale)
{
    if (!isfinite(v) || (logscale && v <= 0)) return NAN;
    if (!(hi > lo)) return 0.5;
    return logscale ? (log(v) - log(lo)) / (log(hi) - log(lo)) : (v - lo) / (hi - lo);
}

/* Grid labels at the cell centres under / beside the cells, thinned to fit. */
static void grid_ticks(cairo_t *cr, const ts_axes *ax, const ts_map_figure *f, bool y_labels)
{
    char buf[32];
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_set_line_width(cr, 0.8);
    /* x: every stride-th label, so neighbours keep 6 points between them. */
    double widest = 0;
    for (size_t i = 0; i < f->n_temps; i++) {
        ts_plot_format_sig(buf, sizeof buf, f->temperatures[i], 3);
        widest = fmax(widest, ts_plot_text_width(cr, 9, buf));
    }
    double cell_w = ax->w / (double)f->n_temps, cell_h = ax->h / (double)f->n_params;
    size_t stride = (size_t)ceil((widest + 6) / cell_w);
    for (size_t i = 0; i < f->n_temps; i += stride ? stride : 1) {
        double px = ts_axes_px(ax, (double)i);
        cairo_move_to(cr, px, ax->y + ax->h);
        cairo_line_to(cr, px, ax->y + ax->h + 3.5);
        cairo_stroke(cr);
        ts_plot_format_sig(buf, sizeof buf, f->temperatures[i], 3);
        ts_plot_text_as(cr, "xtick", px, ax->y + ax->h + 5, 9, 0.5, 0, 0, buf);
    }
    stride = (size_t)ceil((ts_plot_text_height(cr, 9) + 2) / cell_h);
    for (size_t i = 0; i < f->n_params; i += stride ? stride : 1) {
        double py = ts_axes_py(ax, (double)i);
        cairo_move_to(cr, ax->x - 3.5, py);
        cairo_line_to(cr, ax->x, py);
        cairo_stroke(cr);
        if (!y_labels) continue;
        ts_plot_format_sig(buf, sizeof buf, f->params[i], 3);
        ts_plot_text_as(cr, "ytick", ax->x - 6, py, 9, 1.0, 0.5, 0, buf);
    }
}

/* One heatmap: cells coloured by u(value), values written where they fit. */
static void draw_heatmap(cairo_t *cr, const ts_axes *ax, const ts_map_figure *f, const double *vals,
                         ts_cmap map, double lo, double hi, bool logscale, const char *role,
                         int sig)
{
    char buf[32];
    for (size_t p = 0; p < f->n_params; p++)
        for (size_t t = 0; t < f->n_temps; t++) {
            double v = vals[p * f->n_temps + t];
            double x0 = ts_axes_px(ax, (double)t - 0.5), x1 = ts_axes_px(ax, (double)t + 0.5);
            double y0 = ts_axes_py(ax, (double)p + 0.5), y1 = ts_axes_py(ax, (double)p - 0.5);
            ts_rgb c = ts_plot_cmap(map, scale_u(v, lo, hi, logscale));
            ts_plot_set_rgb(cr, c, 1.0);
            format_cell(buf, sizeof buf, v, sig);
            /* Overlap by a hair so no background seam shows between cells. */
            ts_plot_fill_rect(cr, role, x0, y0, x1 - x0 + 0.3, y1 - y0 + 0.3, buf);
            if (!isfinite(v)) continue;
            double tw = ts_plot_text_width(cr, VALUE_SIZE, buf);
            if (tw + 4 > x1 - x0 || ts_plot_text_height(cr, VALUE_SIZE) + 2 > y1 - y0) continue;
            if (luminance(c) < 0.45)
                cairo_set_source_rgb(cr, 1, 1, 1);
            else
                cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
            ts_plot_text_as(cr, "cell-value", (x0 + x1) / 2, (y0 + y1) / 2, VALUE_SIZE, 0.5, 0.5, 0,
                            buf);
        }
}

static bool increasing(const double *v, size_t n, bool positive)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i]) || (positive && v[i] <= 0)) return false;
        if (i > 0 && !(v[i] > v[i - 1])) return false;
    }
    return true;
}

ts_status ts_plot_truncation_map(const char *path, const ts_map_figure *f, char *err,
                                 size_t err_size)
{
    if (!f || !f->temperatures || !f->params || !f->hf || !f->llama || f->n_temps == 0 ||
        f->n_params == 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "%s: truncation map: needs temperatures, parameter values and both "
                         "grids",
                         path);
    if (!increasing(f->temperatures, f->n_temps, true))
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "%s: truncation map: temperatures must be finite, > 0 and increasing "
                         "(a log axis)",
                         path);
    if (!increasing(f->params, f->n_params, false))
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "%s: truncation map: %s values must be finite and increasing", path,
                         f->param_name ? f->param_name : "parameter");
    size_t cells = f->n_temps * f->n_params;
    double *diff = malloc(cells * sizeof *diff);
    if (!diff) {
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    }
    /* One colour scale for both orders; a symmetric one for their difference. */
    double lo = INFINITY, hi = -INFINITY, dmax = 0;
    for (size_t i = 0; i < cells; i++) {
        const double v[2] = {f->hf[i], f->llama[i]};
        for (int k = 0; k < 2; k++)
            if (isfinite(v[k]) && (!f->value_log || v[k] > 0)) {
                lo = fmin(lo, v[k]);
                hi = fmax(hi, v[k]);
            }
        diff[i] = f->llama[i] - f->hf[i];
        /* Rounding noise of equal values (3.5e-14) is no difference. */
        if (fabs(diff[i]) <= 1e-9 * (fabs(f->llama[i]) + fabs(f->hf[i]))) diff[i] = 0;
        if (isfinite(diff[i])) dmax = fmax(dmax, fabs(diff[i]));
    }
    if (!(hi >= lo)) {
        lo = f->value_log ? 1 : 0;
        hi = f->value_log ? 10 : 1;
    }
    if (!(dmax > 0)) dmax = 1e-9; /* identical orders: the difference panel is white */

    double cw = fmin(CELL_MAX, fmax(CELL_MIN, PANEL_MAX / (double)f->n_temps));
    double chh = fmin(CELL_MAX * 0.6, fmax(14.0, 300.0 / (double)f->n_params));
    double pw = fmin(PANEL_MAX, fmax(PANEL_MIN, cw * (double)f->n_temps));
    double ph = fmin(320.0, fmax(180.0, chh * (double)f->n_params));
    const double left = 70, gap = 34;
    const char *vname = f->value_name ? f->value_name : "value";
    char dl[128];
    snprintf(dl, sizeof dl, "\u0394 %s", vname);
    /* Room for a colour bar: the bar, its ticks and label, then the next panel's y label. */
    double cbar_room[2];
    {
        cairo_t *m = ts_plot_scratch();
        cbar_room[0] = 12 + CBAR_W + ts_plot_colorbar_width(m, ph, lo, hi, f->value_log, vname);
        cbar_room[1] = 12 + CBAR_W + ts_plot_colorbar_width(m, ph, -dmax, dmax, false, dl);
        double widest = 0;
        char buf[32];
        for (size_t i = 0; i < f->n_params; i++) {
            ts_plot_format_sig(buf, sizeof buf, f->params[i], 3);
            widest = fmax(widest, ts_plot_text_width(m, 9, buf));
        }
        cbar_room[0] += 24 + widest + ts_plot_text_height(m, 10.5);
        cairo_destroy(m);
    }
    double top = f->title ? 70 : 44;
    double W = left + 3 * pw + 2 * gap + cbar_room[0] + cbar_room[1] + 6;
    double H = top + ph + 60;
    const char *pname = f->param_name ? f->param_name : "truncation parameter";

    ts_plot *pl;
    ts_status st = ts_plot_begin(path, W, H, &pl, err, err_size);
    if (st != TS_OK) {
        free(diff);
        return st;
    }
    cairo_t *cr = ts_plot_cairo(pl);
    if (f->title) {
        cairo_set_source_rgb(cr, 0.05, 0.05, 0.05);
        ts_plot_bold(cr, true);
        ts_plot_text_as(cr, "figure-title", W / 2, 14, 14, 0.5, 0, 0, f->title);
        ts_plot_bold(cr, false);
    }
    const char *titles[3] = {"HF order: temperature, then truncation",
                             "llama.cpp order: truncation, then temperature",
                             "difference: llama.cpp \u2212 HF"};
    double xs[3] = {left, left + pw + gap, left + 2 * pw + gap + cbar_room[0]};
    char ylab[96];
    snprintf(ylab, sizeof ylab, "%s", pname);
    for (int k = 0; k < 3; k++) {
        ts_axes ax = {.x = xs[k],
                      .y = top,
                      .w = pw,
                      .h = ph,
                      .xmin = -0.5,
                      .xmax = (double)f->n_temps - 0.5,
                      .ymin = -0.5,
                      .ymax = (double)f->n_params - 0.5,
                      .hide_xticks = true,
                      .hide_yticks = true};
        ts_axes_frame(cr, &ax, titles[k], NULL, NULL);
        ts_axes_clip(cr, &ax);
        if (k < 2)
            draw_heatmap(cr, &ax, f, k == 0 ? f->hf : f->llama, TS_CMAP_VIRIDIS, lo, hi,
                         f->value_log, k == 0 ? "cell-hf" : "cell-llama", 3);
        else
            draw_heatmap(cr, &ax, f, diff, TS_CMAP_RDBU, -dmax, dmax, false, "cell-diff", 2);
        cairo_restore(cr);
        /* The frame again, over the cells. */
        cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
        cairo_set_line_width(cr, 0.8);
        cairo_rectangle(cr, ax.x, ax.y, ax.w, ax.h);
        cairo_stroke(cr);
        grid_ticks(cr, &ax, f, k != 1);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        ts_plot_text_as(cr, "xlabel", ax.x + ax.w / 2, ax.y + ax.h + 22, 10.5, 0.5, 0, 0,
                        "temperature T");
        if (k != 1) {
            double widest = 0;
            char buf[32];
            for (size_t i = 0; i < f->n_params; i++) {
                ts_plot_format_sig(buf, sizeof buf, f->params[i], 3);
                widest = fmax(widest, ts_plot_text_width(cr, 9, buf));
            }
            ts_plot_text_as(cr, "ylabel", ax.x - 12 - widest, ax.y + ax.h / 2, 10.5, 0.5, 1.0,
                            -M_PI / 2, ylab);
        }
        if (k == 1)
            ts_plot_colorbar(cr, ax.x + ax.w + 12, ax.y, CBAR_W, ax.h, TS_CMAP_VIRIDIS, lo, hi,
                             f->value_log, vname);
        if (k == 2) {
            ts_plot_colorbar(cr, ax.x + ax.w + 12, ax.y, CBAR_W, ax.h, TS_CMAP_RDBU, -dmax, dmax,
                             false, dl);
        }
    }
    free(diff);
    return ts_plot_end(pl, err, err_size);
}

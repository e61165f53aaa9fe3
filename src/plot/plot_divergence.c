/*
 * plot_divergence.c — the divergence curve of coupled sampling: with the
 * same noise at every temperature, the share of samples still equal to the
 * greedy text after k generated tokens, one step curve per temperature
 * (a survival curve: 1 at k = 0, falling as samples leave the greedy path),
 * its 95 % interval as a stepped band. Colours as in the sweep figure (T = 1
 * near-black and thicker, the others cold to hot). Contract:
 * ts_plot_divergence in include/tempscale.h.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define W      820.0
#define LEFT   72.0
#define PLOT_W 700.0
#define PLOT_H 380.0

/* Share after k tokens (k = 0 is 1). */
static double at(const double *s, size_t n_k, size_t t, size_t k)
{
    return k == 0 ? 1.0 : s[t * n_k + k - 1];
}

/* The stepped path of row t of s: value s_k held over [k, k + 1). */
static void step_path(cairo_t *cr, const ts_axes *ax, const double *s, size_t n_k, size_t t,
                      bool move)
{
    for (size_t k = 0; k <= n_k; k++) {
        double v = fmin(1.0, fmax(0.0, at(s, n_k, t, k)));
        double x0 = ts_axes_px(ax, (double)k), x1 = ts_axes_px(ax, (double)(k < n_k ? k + 1 : k));
        double y = ts_axes_py(ax, v);
        if (k == 0 && move)
            cairo_move_to(cr, x0, y);
        else
            cairo_line_to(cr, x0, y);
        cairo_line_to(cr, x1, y);
    }
}

/* The same path backwards (the lower edge of a band). */
static void step_path_back(cairo_t *cr, const ts_axes *ax, const double *s, size_t n_k, size_t t)
{
    for (size_t k = n_k + 1; k-- > 0;) {
        double v = fmin(1.0, fmax(0.0, at(s, n_k, t, k)));
        double x0 = ts_axes_px(ax, (double)k), x1 = ts_axes_px(ax, (double)(k < n_k ? k + 1 : k));
        double y = ts_axes_py(ax, v);
        cairo_line_to(cr, x1, y);
        cairo_line_to(cr, x0, y);
    }
}

ts_status ts_plot_divergence(const char *path, const ts_divergence_figure *f, char *err,
                             size_t err_size)
{
    if (!f || !f->temperatures || f->n_temps == 0 || !f->share || f->n_k == 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "%s: divergence figure: needs temperatures and shares", path);
    if ((f->share_lo == NULL) != (f->share_hi == NULL))
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "%s: divergence figure: give both share_lo and share_hi, or neither",
                         path);
    for (size_t t = 0; t < f->n_temps; t++)
        if (isnan(f->temperatures[t]) || f->temperatures[t] < 0)
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "%s: temperature %g: must be >= 0 (0 = argmax, inf = uniform)", path,
                             f->temperatures[t]);
    for (size_t i = 0; i < f->n_temps * f->n_k; i++)
        if (!(f->share[i] >= 0 && f->share[i] <= 1))
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "%s: divergence figure: share[%zu] = %g is not in [0, 1]", path, i,
                             f->share[i]);

    ts_rgb *colors = malloc(f->n_temps * sizeof *colors);
    char(*labels)[32] = malloc(f->n_temps * sizeof *labels);
    ts_legend_entry *entries = malloc(f->n_temps * sizeof *entries);
    size_t n_pts = f->n_temps * (f->n_k + 1) * 8;
    double *px = malloc(n_pts * sizeof *px), *py = malloc(n_pts * sizeof *py);
    if (!colors || !labels || !entries || !px || !py) {
        free(colors);
        free(labels);
        free(entries);
        free(px);
        free(py);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    }
    ts_plot_temperature_colors(f->temperatures, f->n_temps, colors);
    ts_plot_temperature_entries(f->temperatures, colors, f->n_temps, TS_KEY_LINE, labels, entries);

    double top = f->title ? 64 : 40;
    ts_axes ax = {.x = LEFT,
                  .y = top,
                  .w = PLOT_W,
                  .h = PLOT_H,
                  .xmin = 0,
                  .xmax = (double)f->n_k,
                  .ymin = -0.03,
                  .ymax = 1.05,
                  .x_integer = true};
    /* The legend goes inside where no curve passes, else below the axes. */
    size_t np = 0;
    for (size_t t = 0; t < f->n_temps; t++)
        for (size_t k = 0; k <= f->n_k; k++) {
            double y = ts_axes_py(&ax, at(f->share, f->n_k, t, k));
            /* Four points along each step, four down the drop into it. */
            double prev = ts_axes_py(&ax, at(f->share, f->n_k, t, k ? k - 1 : 0));
            for (int q = 0; q < 4 && np + 2 <= n_pts; q++) {
                px[np] = ts_axes_px(&ax, (double)k + q / 4.0);
                py[np++] = y;
                px[np] = ts_axes_px(&ax, (double)k);
                py[np++] = prev + (y - prev) * q / 4.0;
            }
        }
    cairo_t *m = ts_plot_scratch();
    ts_legend_layout lay;
    double lx = 0, ly = 0;
    bool below = true;
    /* Inside: as many rows as fit in about half the height, in columns if need be. */
    ts_legend_measure(m, entries, f->n_temps, "temperature", 0, (size_t)(PLOT_H * 0.55 / 15), &lay);
    if (lay.w < PLOT_W * 0.6 && lay.h < PLOT_H * 0.8 &&
        ts_plot_best_spot(&ax, lay.w + 8, lay.h + 8, px, py, np, &lx, &ly) == 0) {
        below = false;
        lx += 4;
        ly += 4;
    } else {
        ts_legend_measure(m, entries, f->n_temps, "temperature", W - 40, 0, &lay);
    }
    cairo_destroy(m);
    double legend_y = top + PLOT_H + 50;
    double H = legend_y + (below ? lay.h + 12 : 0);

    ts_plot *pl;
    ts_status st = ts_plot_begin(path, W, H, &pl, err, err_size);
    if (st != TS_OK) {
        free(colors);
        free(labels);
        free(entries);
        free(px);
        free(py);
        return st;
    }
    cairo_t *cr = ts_plot_cairo(pl);
    cairo_set_source_rgb(cr, 0.05, 0.05, 0.05);
    ts_plot_bold(cr, true);
    if (f->title) ts_plot_text_as(cr, "figure-title", W / 2, 14, 14, 0.5, 0, 0, f->title);
    ts_plot_bold(cr, false);
    char sub[160];
    if (f->n_samples)
        snprintf(sub, sizeof sub,
                 "coupled sampling (the same noise at every T), %zu samples per temperature",
                 f->n_samples);
    else
        snprintf(sub, sizeof sub, "coupled sampling: the same noise at every temperature");
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    ts_plot_text(cr, W / 2, top - 22, 9.5, 0.5, 0, sub);
    ts_axes_frame(cr, &ax, NULL, "tokens generated k",
                  "share of samples still equal to the greedy text");

    ts_axes_clip(cr, &ax);
    if (f->share_lo)
        for (size_t t = 0; t < f->n_temps; t++) {
            step_path(cr, &ax, f->share_hi, f->n_k, t, true);
            step_path_back(cr, &ax, f->share_lo, f->n_k, t);
            cairo_close_path(cr);
            ts_plot_set_rgb(cr, colors[t], 0.13);
            double x1, y1, x2, y2;
            cairo_path_extents(cr, &x1, &y1, &x2, &y2);
            ts_plot_note(cr, "band", x1, y1, x2 - x1, y2 - y1, entries[t].label);
            cairo_fill(cr);
        }
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_MITER);
    for (int pass = 0; pass < 2; pass++)
        for (size_t t = 0; t < f->n_temps; t++) {
            bool one = f->temperatures[t] == 1.0;
            if (one != (pass == 1)) continue;
            step_path(cr, &ax, f->share, f->n_k, t, true);
            ts_plot_set_rgb(cr, colors[t], 1.0);
            cairo_set_line_width(cr, one ? 3.0 : 1.8);
            double x1, y1, x2, y2;
            cairo_stroke_extents(cr, &x1, &y1, &x2, &y2);
            ts_plot_note(cr, "curve", x1, y1, x2 - x1, y2 - y1, entries[t].label);
            cairo_stroke(cr);
        }
    cairo_restore(cr);
    if (below)
        ts_legend_draw(cr, (W - lay.w) / 2, legend_y, entries, f->n_temps, "temperature", &lay);
    else
        ts_legend_draw(cr, lx, ly, entries, f->n_temps, "temperature", &lay);
    free(colors);
    free(labels);
    free(entries);
    free(px);
    free(py);
    return ts_plot_end(pl, err, err_size);
}

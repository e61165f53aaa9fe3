/*
 * plot_sweep.c — the walkthrough's temperature-sweep figure, drawn with the
 * plot core (src/plot/plot.c):
 *   left   probability vs rank of the top k tokens, one line per temperature
 *          (the notebook's "Temperature Scaling" panel): low T piles the mass
 *          on rank 1, high T flattens it;
 *   right  entropy (nats) vs temperature on a log axis: a smooth curve from
 *          the same logits, a marker per swept temperature, T = 1 marked and
 *          the ceiling log(V) of the uniform distribution drawn dashed.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>

static void format_t(char *buf, size_t size, double t)
{
    if (isinf(t))
        snprintf(buf, size, "T = inf");
    else
        snprintf(buf, size, "T = %.3g", t);
}

static void draw_rank_panel(cairo_t *cr, const ts_axes *ax, const double *temperatures,
                            size_t n_temps, size_t k, const double *prob)
{
    ts_axes_clip(cr, ax);
    for (size_t t = 0; t < n_temps; t++) {
        bool is_one = temperatures[t] == 1.0;
        ts_plot_color(cr, (int)t, 1.0);
        cairo_set_line_width(cr, is_one ? 3.0 : 1.6);
        for (size_t r = 0; r < k; r++) {
            double x = ts_axes_px(ax, (double)(r + 1)), y = ts_axes_py(ax, prob[t * k + r]);
            if (r == 0)
                cairo_move_to(cr, x, y);
            else
                cairo_line_to(cr, x, y);
        }
        cairo_stroke(cr);
        for (size_t r = 0; r < k; r++) {
            cairo_arc(cr, ts_axes_px(ax, (double)(r + 1)), ts_axes_py(ax, prob[t * k + r]),
                      is_one ? 3.5 : 2.5, 0, 2 * M_PI);
            cairo_fill(cr);
        }
    }
    cairo_restore(cr);
}

static void draw_entropy_panel(cairo_t *cr, const ts_axes *ax, const double *temperatures,
                               size_t n_temps, const double *entropy_nats, const double *curve_t,
                               const double *curve_h, size_t n_curve, double h_max)
{
    ts_axes_clip(cr, ax);
    /* The uniform ceiling log(V) and the T = 1 line, dashed grey. */
    double dash[2] = {5.0, 4.0};
    cairo_set_dash(cr, dash, 2, 0);
    cairo_set_source_rgba(cr, 0.35, 0.35, 0.35, 0.9);
    cairo_set_line_width(cr, 1.2);
    if (h_max > 0) {
        cairo_move_to(cr, ax->x, ts_axes_py(ax, h_max));
        cairo_line_to(cr, ax->x + ax->w, ts_axes_py(ax, h_max));
        cairo_stroke(cr);
    }
    if (ax->xmin <= 1.0 && 1.0 <= ax->xmax) {
        cairo_move_to(cr, ts_axes_px(ax, 1.0), ax->y);
        cairo_line_to(cr, ts_axes_px(ax, 1.0), ax->y + ax->h);
        cairo_stroke(cr);
    }
    cairo_set_dash(cr, NULL, 0, 0);
    /* The curve. */
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    cairo_set_line_width(cr, 2.0);
    bool started = false;
    for (size_t i = 0; i < n_curve; i++) {
        if (!(curve_t[i] > 0) || isinf(curve_t[i]) || !isfinite(curve_h[i])) continue;
        double x = ts_axes_px(ax, curve_t[i]), y = ts_axes_py(ax, curve_h[i]);
        if (!started)
            cairo_move_to(cr, x, y);
        else
            cairo_line_to(cr, x, y);
        started = true;
    }
    if (started) cairo_stroke(cr);
    /* A marker per swept temperature, in that temperature's colour. */
    for (size_t t = 0; t < n_temps; t++) {
        double T = temperatures[t];
        if (!(T > 0) || isinf(T)) continue;
        double x = ts_axes_px(ax, T), y = ts_axes_py(ax, entropy_nats[t]);
        ts_plot_color(cr, (int)t, 1.0);
        cairo_arc(cr, x, y, T == 1.0 ? 6.0 : 4.5, 0, 2 * M_PI);
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_set_line_width(cr, 1.2);
        cairo_stroke(cr);
    }
    cairo_restore(cr);
    /* Labels outside the clip. */
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    if (ax->xmin <= 1.0 && 1.0 <= ax->xmax)
        ts_plot_text(cr, ts_axes_px(ax, 1.0) + 4, ax->y + 4, 9, 0, 0, "T = 1 (the model as trained)");
    if (h_max > 0) {
        char buf[64];
        snprintf(buf, sizeof buf, "uniform: log V = %.2f", h_max);
        ts_plot_text(cr, ax->x + 6, ts_axes_py(ax, h_max) + 3, 9, 0, 0, buf);
    }
}

ts_status ts_plot_sweep(const char *path, const double *temperatures, size_t n_temps, size_t k,
                        const double *prob, const double *entropy_nats, const double *curve_t,
                        const double *curve_h, size_t n_curve, const char *title, char *err,
                        size_t err_size)
{
    if (n_temps == 0 || k == 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: nothing to plot", path);
    /* Ranges: probabilities in [0, max]; temperatures over the finite positive ones. */
    double pmax = 0.0;
    for (size_t i = 0; i < n_temps * k; i++)
        if (prob[i] > pmax) pmax = prob[i];
    double tmin = INFINITY, tmax = 0.0, hmax = 0.0;
    for (size_t t = 0; t < n_temps; t++) {
        double T = temperatures[t];
        if (T > 0 && isfinite(T)) {
            tmin = fmin(tmin, T);
            tmax = fmax(tmax, T);
        }
    }
    for (size_t i = 0; i < n_curve; i++) {
        if (curve_t[i] > 0 && isfinite(curve_t[i])) {
            tmin = fmin(tmin, curve_t[i]);
            tmax = fmax(tmax, curve_t[i]);
        }
        if (isfinite(curve_h[i])) hmax = fmax(hmax, curve_h[i]);
    }
    for (size_t t = 0; t < n_temps; t++)
        if (isfinite(entropy_nats[t])) hmax = fmax(hmax, entropy_nats[t]);
    bool have_entropy = tmax > 0;
    if (have_entropy && !(tmax > tmin)) {
        tmin /= 2;
        tmax *= 2;
    }

    ts_plot *pl = NULL;
    double width = 980, height = 430;
    ts_status st = ts_plot_begin(path, width, height, &pl, err, err_size);
    if (st != TS_OK) return st;
    cairo_t *cr = ts_plot_cairo(pl);

    double top = title ? 52 : 30;
    if (title) {
        cairo_set_source_rgb(cr, 0, 0, 0);
        ts_plot_bold(cr, true);
        ts_plot_text(cr, width / 2, 14, 14, 0.5, 0, title);
        ts_plot_bold(cr, false);
    }
    ts_axes left = {0};
    left.x = 62;
    left.y = top;
    left.w = 400;
    left.h = height - top - 52;
    left.xmin = 0.5;
    left.xmax = (double)k + 0.5;
    left.ymin = 0;
    left.ymax = pmax > 0 ? pmax * 1.05 : 1;
    ts_axes_frame(cr, &left, "Top-k probability at each temperature", "rank",
                  "probability (renormalised in the top k)");
    draw_rank_panel(cr, &left, temperatures, n_temps, k, prob);

    /* Legend: one entry per temperature, at most 12 shown. */
    char labels_buf[12][32];
    const char *labels[12];
    int colors[12];
    size_t n_leg = n_temps < 12 ? n_temps : 12;
    for (size_t t = 0; t < n_leg; t++) {
        format_t(labels_buf[t], sizeof labels_buf[t], temperatures[t]);
        labels[t] = labels_buf[t];
        colors[t] = (int)t;
    }
    ts_plot_legend(cr, left.x + left.w - 92, left.y + 8, labels, colors, n_leg);

    ts_axes right = {0};
    right.x = 540;
    right.y = top;
    right.w = 410;
    right.h = height - top - 52;
    right.xlog = true;
    /* A little room beyond the extreme temperatures so their markers are not cut. */
    right.xmin = have_entropy ? tmin / 1.4 : 0.01;
    right.xmax = have_entropy ? tmax * 1.4 : 100;
    right.ymin = 0;
    right.ymax = hmax > 0 ? hmax * 1.08 : 1;
    ts_axes_frame(cr, &right, "Entropy of the full distribution", "temperature T (log scale)",
                  "entropy (nats)");
    if (have_entropy) {
        /* The ceiling is the largest entropy seen on the curve when it reaches uniform. */
        double h_ceiling = 0.0;
        for (size_t i = 0; i < n_curve; i++)
            if (isinf(curve_t[i]) && isfinite(curve_h[i])) h_ceiling = curve_h[i];
        draw_entropy_panel(cr, &right, temperatures, n_temps, entropy_nats, curve_t, curve_h,
                           n_curve, h_ceiling);
    }
    return ts_plot_end(pl, err, err_size);
}

/*
 * plot_sweep.c — the walkthrough's temperature-sweep figure, drawn with the
 * plot core (src/plot/plot.c):
 *   left   probability vs rank of the top k tokens, one line per temperature
 *          (the notebook's "Temperature Scaling" panel), renormalised within
 *          the top k or over the full vocabulary: low T piles the mass on
 *          rank 1, high T flattens it;
 *   right  entropy (nats) vs temperature on a log axis whose ends hold T = 0
 *          and T = inf: a smooth curve from the same logits, a marker per
 *          swept temperature, T = 1 and the ceiling log V of the uniform
 *          distribution dashed, a solved target entropy starred and labelled;
 *   below  a legend with every temperature, in as many columns as fit.
 * Colours: T = 1 always the same near-black (thicker), the others cold to hot
 * in order of T (ts_plot_temperature_colors). Contract: ts_plot_sweep_figure
 * in include/tempscale.h.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define WIDTH   980.0
#define PANEL_H 340.0

static void draw_rank_panel(cairo_t *cr, const ts_axes *ax, const ts_sweep_figure *f,
                            const ts_rgb *colors)
{
    ts_axes_clip(cr, ax);
    /* T = 1 last, on top of the others. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t t = 0; t < f->n_temps; t++) {
            bool is_one = f->temperatures[t] == 1.0;
            if (is_one != (pass == 1)) continue;
            const double *p = f->prob + t * f->k;
            ts_plot_set_rgb(cr, colors[t], 1.0);
            cairo_set_line_width(cr, is_one ? 3.2 : 1.6);
            cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
            for (size_t r = 0; r < f->k; r++) {
                double x = ts_axes_px(ax, (double)(r + 1)), y = ts_axes_py(ax, p[r]);
                if (r == 0)
                    cairo_move_to(cr, x, y);
                else
                    cairo_line_to(cr, x, y);
            }
            cairo_stroke(cr);
            char what[32];
            ts_plot_format_temperature(what, sizeof what, f->temperatures[t]);
            for (size_t r = 0; r < f->k; r++)
                ts_plot_marker(cr, "rank-point", TS_MARK_CIRCLE, ts_axes_px(ax, (double)(r + 1)),
                               ts_axes_py(ax, p[r]), is_one ? 3.6 : 2.6, colors[t], 1.0, false,
                               what);
        }
    }
    cairo_restore(cr);
}

/* The annotation box of the target: text in a white box with a leader to (px, py). */
static void annotate_target(cairo_t *cr, const ts_axes *ax, double px, double py, const char *text,
                            ts_rgb color)
{
    const double size = 9.5, pad = 4;
    double tw = ts_plot_text_width(cr, size, text) + 2 * pad;
    double th = ts_plot_text_height(cr, size) + 2 * pad;
    /* Below-right of a point on a rising curve is empty; else above-left. */
    double bx = px + 16, by = py + 14;
    if (bx + tw > ax->x + ax->w - 4 || by + th > ax->y + ax->h - 4) {
        bx = px - 16 - tw;
        by = py - 14 - th;
    }
    bx = fmax(ax->x + 4, fmin(bx, ax->x + ax->w - 4 - tw));
    by = fmax(ax->y + 4, fmin(by, ax->y + ax->h - 4 - th));
    ts_plot_set_rgb(cr, color, 0.9);
    cairo_set_line_width(cr, 1.0);
    cairo_move_to(cr, px, py);
    cairo_line_to(cr, bx + (bx > px ? 0 : tw), by + (by > py ? 0 : th));
    cairo_stroke(cr);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.94);
    cairo_rectangle(cr, bx, by, tw, th);
    cairo_fill_preserve(cr);
    ts_plot_set_rgb(cr, color, 1.0);
    cairo_stroke(cr);
    ts_plot_text_as(cr, "annotation", bx + pad, by + pad, size, 0.0, 0.0, 0.0, text);
}

/* True when the w x h box at (x, y) holds none of the curve's points or markers. */
static bool box_is_free(const ts_axes *ax, const ts_sweep_figure *f, double x, double y, double w,
                        double h)
{
    if (x < ax->x || x + w > ax->x + ax->w || y < ax->y || y + h > ax->y + ax->h) return false;
    for (size_t i = 0; i < f->n_curve + f->n_temps + 1; i++) {
        double t, v;
        if (i < f->n_curve) {
            t = f->curve_t[i];
            v = f->curve_h[i];
        } else if (i < f->n_curve + f->n_temps) {
            t = f->temperatures[i - f->n_curve];
            v = f->entropy_nats[i - f->n_curve];
        } else {
            if (!f->has_target) continue;
            t = f->target_t;
            v = f->target_h;
        }
        if (!isfinite(v) || isnan(t) || (isinf(t) && !ax->x_inf_end)) continue;
        if (t <= 0 && !ax->x_zero_end) continue;
        double px = ts_axes_px(ax, t), py = ts_axes_py(ax, v);
        if (px > x - 7 && px < x + w + 7 && py > y - 7 && py < y + h + 7) return false;
    }
    return true;
}

/* "T = 1 (the model as trained)" beside the T = 1 line, in the first free spot of:
 * top left (below the ceiling), bottom right, top right, bottom left. */
static void label_t1(cairo_t *cr, const ts_axes *ax, const ts_sweep_figure *f, double ceil_y)
{
    const char *text = "T = 1 (the model as trained)";
    double w = ts_plot_text_width(cr, 9, text), h = ts_plot_text_height(cr, 9);
    double px = ts_axes_px(ax, 1.0), top = fmax(ax->y, ceil_y) + 4, bottom = ax->y + ax->h - 4 - h;
    double cand[4][2] = {{px - 4 - w, top}, {px + 4, bottom}, {px + 4, top}, {px - 4 - w, bottom}};
    int pick = 0;
    for (int c = 0; c < 4; c++)
        if (box_is_free(ax, f, cand[c][0], cand[c][1], w, h)) {
            pick = c;
            break;
        }
    ts_plot_text(cr, cand[pick][0], cand[pick][1], 9, 0, 0, text);
}

static void draw_entropy_panel(cairo_t *cr, const ts_axes *ax, const ts_sweep_figure *f,
                               const ts_rgb *colors, double h_ceiling)
{
    double dash[2] = {5.0, 4.0};
    bool one_inside = ax->xmin <= 1.0 && 1.0 <= ax->xmax;
    ts_axes_clip(cr, ax);
    /* The uniform ceiling log(V) and the T = 1 line, dashed grey. */
    cairo_set_dash(cr, dash, 2, 0);
    cairo_set_source_rgba(cr, 0.35, 0.35, 0.35, 0.9);
    cairo_set_line_width(cr, 1.2);
    if (h_ceiling > 0) {
        cairo_move_to(cr, ax->x, ts_axes_py(ax, h_ceiling));
        cairo_line_to(cr, ax->x + ax->w, ts_axes_py(ax, h_ceiling));
        cairo_stroke(cr);
    }
    if (one_inside) {
        cairo_move_to(cr, ts_axes_px(ax, 1.0), ax->y);
        cairo_line_to(cr, ts_axes_px(ax, 1.0), ax->y + ax->h);
        cairo_stroke(cr);
    }
    cairo_set_dash(cr, NULL, 0, 0);

    /* The curve over finite T, then dotted to the T = 0 / T = inf markers (its limits). */
    double first_x = NAN, first_y = NAN, last_x = NAN, last_y = NAN;
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_set_line_width(cr, 2.0);
    for (size_t i = 0; i < f->n_curve; i++) {
        if (!(f->curve_t[i] > 0) || isinf(f->curve_t[i]) || !isfinite(f->curve_h[i])) continue;
        double x = ts_axes_px(ax, f->curve_t[i]), y = ts_axes_py(ax, f->curve_h[i]);
        if (isnan(first_x)) {
            cairo_move_to(cr, x, y);
            first_x = x;
            first_y = y;
        } else {
            cairo_line_to(cr, x, y);
        }
        last_x = x;
        last_y = y;
    }
    if (!isnan(first_x)) cairo_stroke(cr);
    double dots[2] = {1.5, 3.0};
    for (size_t t = 0; t < f->n_temps && !isnan(first_x); t++) {
        double T = f->temperatures[t];
        if (T != 0 && !isinf(T)) continue;
        if (!isfinite(f->entropy_nats[t])) continue;
        cairo_set_dash(cr, dots, 2, 0);
        cairo_set_line_width(cr, 1.4);
        cairo_move_to(cr, T == 0 ? first_x : last_x, T == 0 ? first_y : last_y);
        cairo_line_to(cr, ts_axes_px(ax, T), ts_axes_py(ax, f->entropy_nats[t]));
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
    }

    /* A marker per swept temperature, in that temperature's colour; T = 1 on top. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t t = 0; t < f->n_temps; t++) {
            double T = f->temperatures[t];
            if ((T == 1.0) != (pass == 1) || !isfinite(f->entropy_nats[t])) continue;
            char what[32];
            ts_plot_format_temperature(what, sizeof what, T);
            ts_plot_marker(cr, "entropy-point", TS_MARK_CIRCLE, ts_axes_px(ax, T),
                           ts_axes_py(ax, f->entropy_nats[t]), T == 1.0 ? 6.5 : 5.0, colors[t], 1.0,
                           true, what);
        }

    /* The target: guides to both axes, a star, and its annotation. */
    if (f->has_target && f->target_t > 0 && isfinite(f->target_t) && isfinite(f->target_h)) {
        const ts_rgb green = ts_plot_palette(2);
        double px = ts_axes_px(ax, f->target_t), py = ts_axes_py(ax, f->target_h);
        double guide[2] = {3.0, 2.5};
        ts_plot_set_rgb(cr, green, 0.85);
        cairo_set_line_width(cr, 1.0);
        cairo_set_dash(cr, guide, 2, 0);
        cairo_move_to(cr, ax->x, py);
        cairo_line_to(cr, px, py);
        cairo_line_to(cr, px, ax->y + ax->h);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        char h[32], tt[32], text[96];
        ts_plot_format_sig(h, sizeof h, f->target_h, 3);
        ts_plot_format_sig(tt, sizeof tt, f->target_t, 3);
        snprintf(text, sizeof text, "target H = %s nats \u2192 T = %s", h, tt);
        ts_plot_marker(cr, "target", TS_MARK_STAR, px, py, 7.0, green, 1.0, true, text);
        annotate_target(cr, ax, px, py, text, green);
    }
    cairo_restore(cr);

    /* Labels of the dashed lines: the ceiling's above it, where no entropy goes. */
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    double x_in = ax->x + (ax->x_zero_end ? TS_AXES_END_SLOT : 0) + 6;
    double ceil_y = h_ceiling > 0 ? ts_axes_py(ax, h_ceiling) : ax->y;
    if (h_ceiling > 0) {
        char buf[64], v[32];
        ts_plot_format_sig(v, sizeof v, h_ceiling, 4);
        snprintf(buf, sizeof buf, "uniform (T = \u221e): log V = %s", v);
        ts_plot_text(cr, x_in, ceil_y - 2, 9, 0, 1, buf);
    }
    if (one_inside) label_t1(cr, ax, f, ceil_y);
}

static bool bad_temperature(double t)
{
    return isnan(t) || t < 0;
}

ts_status ts_plot_sweep_figure(const char *path, const ts_sweep_figure *f, char *err,
                               size_t err_size)
{
    if (!f || f->n_temps == 0 || f->k == 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: nothing to plot (no temperatures)",
                         path);
    if (!f->temperatures || !f->prob || !f->entropy_nats ||
        (f->n_curve && (!f->curve_t || !f->curve_h)))
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: sweep figure: missing data array",
                         path);
    for (size_t t = 0; t < f->n_temps; t++)
        if (bad_temperature(f->temperatures[t]))
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "%s: temperature %g: must be >= 0 (0 = argmax, inf = uniform)", path,
                             f->temperatures[t]);

    /* Ranges: probabilities in [0, max]; temperatures over the finite positive ones. */
    double pmax = 0.0;
    for (size_t i = 0; i < f->n_temps * f->k; i++)
        if (f->prob[i] > pmax) pmax = f->prob[i];
    double tmin = INFINITY, tmax = 0.0, hmax = 0.0, h_ceiling = 0.0;
    bool has_zero = false, has_inf = false;
    for (size_t t = 0; t < f->n_temps; t++) {
        double T = f->temperatures[t];
        has_zero |= T == 0;
        has_inf |= isinf(T) != 0;
        if (T > 0 && isfinite(T)) {
            tmin = fmin(tmin, T);
            tmax = fmax(tmax, T);
        }
        if (isfinite(f->entropy_nats[t])) hmax = fmax(hmax, f->entropy_nats[t]);
        if (isinf(T) && isfinite(f->entropy_nats[t])) h_ceiling = f->entropy_nats[t];
    }
    for (size_t i = 0; i < f->n_curve; i++) {
        if (f->curve_t[i] > 0 && isfinite(f->curve_t[i])) {
            tmin = fmin(tmin, f->curve_t[i]);
            tmax = fmax(tmax, f->curve_t[i]);
        }
        if (isfinite(f->curve_h[i])) hmax = fmax(hmax, f->curve_h[i]);
        if (isinf(f->curve_t[i]) && isfinite(f->curve_h[i])) h_ceiling = f->curve_h[i];
    }
    if (f->has_target && f->target_t > 0 && isfinite(f->target_t)) {
        tmin = fmin(tmin, f->target_t);
        tmax = fmax(tmax, f->target_t);
    }
    if (!(tmax > 0)) { /* only T = 0 / inf: a decade either side of 1 */
        tmin = 0.1;
        tmax = 10;
    }
    if (!(tmax > tmin * 1.5)) {
        tmin /= 2;
        tmax *= 2;
    }

    ts_rgb *colors = malloc(f->n_temps * sizeof *colors);
    char(*labels)[32] = malloc(f->n_temps * sizeof *labels);
    ts_legend_entry *entries = malloc(f->n_temps * sizeof *entries);
    if (!colors || !labels || !entries) {
        free(colors);
        free(labels);
        free(entries);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    }
    ts_plot_temperature_colors(f->temperatures, f->n_temps, colors);
    ts_plot_temperature_entries(f->temperatures, colors, f->n_temps, TS_KEY_LINE_DOT, labels,
                                entries);

    /* The legend's size decides the figure's height: measure on a scratch surface. */
    ts_legend_layout lay;
    {
        cairo_t *m = ts_plot_scratch();
        ts_legend_measure(m, entries, f->n_temps, "temperature", WIDTH - 80, 0, &lay);
        cairo_destroy(m);
    }
    double top = f->title ? 64 : 30;
    double legend_y = top + PANEL_H + 50;
    double height = legend_y + lay.h + 12;

    ts_plot *pl = NULL;
    ts_status st = ts_plot_begin(path, WIDTH, height, &pl, err, err_size);
    if (st != TS_OK) {
        free(colors);
        free(labels);
        free(entries);
        return st;
    }
    cairo_t *cr = ts_plot_cairo(pl);

    if (f->title) {
        cairo_set_source_rgb(cr, 0, 0, 0);
        ts_plot_bold(cr, true);
        ts_plot_text_as(cr, "figure-title", WIDTH / 2, 14, 14, 0.5, 0, 0, f->title);
        ts_plot_bold(cr, false);
    }
    ts_axes left = {.x = 62, .y = top, .w = 400, .h = PANEL_H, .x_integer = true};
    left.xmin = 0.5;
    left.xmax = (double)f->k + 0.5;
    /* matplotlib's margins: markers at 0 and at the top stay whole. */
    left.ymax = pmax > 0 ? pmax * 1.05 : 1;
    left.ymin = -0.025 * left.ymax;
    if (f->prob_full)
        ts_axes_frame(cr, &left, "Probability of the top k tokens (full vocabulary)", "rank",
                      "probability over the full vocabulary");
    else
        ts_axes_frame(cr, &left, "Top-k probability, renormalised within the top k", "rank",
                      "probability (renormalised in the top k)");
    draw_rank_panel(cr, &left, f, colors);

    ts_axes right = {.x = 540, .y = top, .w = 410, .h = PANEL_H, .xlog = true};
    right.x_zero_end = has_zero;
    right.x_inf_end = has_inf;
    /* A little room beyond the extreme temperatures so their markers are not cut. */
    right.xmin = tmin / 1.4;
    right.xmax = tmax * 1.4;
    right.ymax = hmax > 0 ? hmax * 1.1 : 1;
    right.ymin = -0.03 * right.ymax;
    ts_axes_frame(cr, &right, "Entropy of the full distribution", "temperature T (log scale)",
                  "entropy (nats)");
    draw_entropy_panel(cr, &right, f, colors, h_ceiling);

    ts_legend_draw(cr, (WIDTH - lay.w) / 2, legend_y, entries, f->n_temps, "temperature", &lay);
    free(colors);
    free(labels);
    free(entries);
    return ts_plot_end(pl, err, err_size);
}

ts_status ts_plot_sweep(const char *path, const double *temperatures, size_t n_temps, size_t k,
                        const double *prob, const double *entropy_nats, const double *curve_t,
                        const double *curve_h, size_t n_curve, const char *title, char *err,
                        size_t err_size)
{
    ts_sweep_figure f = {.temperatures = temperatures,
                         .n_temps = n_temps,
                         .k = k,
                         .prob = prob,
                         .entropy_nats = entropy_nats,
                         .curve_t = curve_t,
                         .curve_h = curve_h,
                         .n_curve = n_curve,
                         .title = title};
    return ts_plot_sweep_figure(path, &f, err, err_size);
}

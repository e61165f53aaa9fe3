/*
 * plot_softmax.c — the temperature softmax figure: a row (or rows) of bar
 * panels, one per temperature, showing how dividing the logits by T sharpens
 * (T < 1) or flattens (T > 1) the distribution. Built on the plot core in
 * plot.c; the contract is ts_plot_softmax_panels in include/tempscale.h.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

#define MAX_TOKENS 64
#define MAX_TEMPS  20
#define MAX_COLS   5

static void format_temperature(char *buf, size_t n, double t)
{
    if (isinf(t))
        snprintf(buf, n, "T = \u221e (uniform)");
    else if (t == 0.0)
        snprintf(buf, n, "T = 0 (argmax)");
    else if (t == 1.0)
        snprintf(buf, n, "T = 1 (unchanged)");
    else {
        char v[32];
        ts_plot_format_sig(v, sizeof v, t, 4);
        snprintf(buf, n, "T = %s", v);
    }
}

/* A bar's probability in 2 decimals, without printing 0.00 / 1.00 for what is not 0 / 1. */
static void format_prob(char *buf, size_t n, double p)
{
    if (p == 0.0 || p == 1.0)
        snprintf(buf, n, "%g", p);
    else if (p < 0.005)
        snprintf(buf, n, "<0.01");
    else if (p > 0.995)
        snprintf(buf, n, ">0.99");
    else
        snprintf(buf, n, "%.2f", p);
}

/* The label under bar i: the caller's, else "token i". */
static const char *token_label(const char *const *labels, size_t i, char *buf, size_t n)
{
    if (labels && labels[i])
        ts_plot_visible_text(labels[i], false, 24, buf, n);
    else
        snprintf(buf, n, "token %zu", i);
    return buf;
}

/* One panel: bars, probabilities above them, token labels and entropy below. */
static void draw_panel(cairo_t *cr, const ts_axes *ax, const double *p, size_t n,
                       const char *const *labels, double t, bool first_in_row, double label_angle)
{
    char buf[128];
    format_temperature(buf, sizeof buf, t);
    ts_axes_frame(cr, ax, buf, NULL, first_in_row ? "probability" : NULL);

    double slot = ax->w / (double)n;
    double bar = slot * 0.72;
    double value_size = slot > 34 ? 9.0 : slot > 24 ? 8.0 : 7.0;
    for (size_t i = 0; i < n; i++) {
        double cx = ax->x + slot * ((double)i + 0.5);
        double top = ts_axes_py(ax, p[i]), base = ts_axes_py(ax, 0.0);
        ts_plot_color(cr, ax->emphasis ? 1 : 0, 0.9);
        ts_plot_fill_rect(cr, "bar", cx - bar / 2, top, bar, base - top, NULL);
        /* probability above the bar */
        cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
        format_prob(buf, sizeof buf, p[i]);
        if (slot < 22)
            ts_plot_text_rotated(cr, cx, top - 3, value_size, 0.0, 0.5, -M_PI / 2, buf);
        else
            ts_plot_text(cr, cx, top - 2, value_size, 0.5, 1.0, buf);
        /* token label under the axis */
        const char *lab = token_label(labels, i, buf, sizeof buf);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        if (label_angle != 0.0)
            ts_plot_text_rotated(cr, cx + 3, ax->y + ax->h + 5, 8.5, 1.0, 0.5, label_angle, lab);
        else
            ts_plot_text(cr, cx, ax->y + ax->h + 5, 9.0, 0.5, 0.0, lab);
    }
}

ts_status ts_plot_softmax_panels(const char *path, const float *logits, size_t n,
                                 const char *const *labels, const double *temperatures,
                                 size_t n_temps, const char *title, char *err, size_t err_size)
{
    if (n == 0 || n > MAX_TOKENS)
        return ts_errorf(err, err_size, TS_ERR_RANGE,
                         "%s: %zu logits: the softmax figure draws 1 to %d tokens", path, n,
                         MAX_TOKENS);
    if (n_temps == 0 || n_temps > MAX_TEMPS)
        return ts_errorf(err, err_size, TS_ERR_RANGE,
                         "%s: %zu temperatures: the softmax figure draws 1 to %d panels", path,
                         n_temps, MAX_TEMPS);
    double *probs = malloc(n * n_temps * sizeof *probs);
    double *ent = malloc(n_temps * sizeof *ent);
    if (!probs || !ent) {
        free(probs);
        free(ent);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t k = 0; k < n_temps; k++) {
        double t = temperatures[k];
        if (ts_softmax(logits, n, t, probs + k * n) != TS_OK) {
            free(probs);
            free(ent);
            if (isnan(t) || t < 0)
                return ts_errorf(err, err_size, TS_ERR_INVALID,
                                 "temperature %g: must be >= 0 (0 = argmax, inf = uniform)", t);
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "logits: need finite numbers or -inf, and at least one finite");
        }
        ent[k] = ts_entropy_nats(probs + k * n, n);
    }

    /* Layout (points). Long labels are drawn at 45 degrees and need room. */
    double longest = 0;
    {
        /* measure on a scratch surface: text width needs a cairo_t */
        cairo_t *m = ts_plot_scratch();
        ts_plot_bold(m, false);
        char num[128];
        for (size_t i = 0; i < n; i++) {
            const char *lab = token_label(labels, i, num, sizeof num);
            double w = ts_plot_text_width(m, 9.0, lab);
            if (w > longest) longest = w;
        }
        cairo_destroy(m);
    }
    /* Bars get narrower as tokens get more numerous; rows keep the figure
     * within ~1500 points wide, and are balanced (7 panels: 4 + 3, not 5 + 2). */
    double per_token = n <= 8 ? 34.0 : n <= 16 ? 28.0 : 22.0;
    /* Short rows of labels read best level: widen the slots when that stays compact. */
    if (longest + 8 > per_token && 24.0 + (longest + 8) * (double)n <= 330) per_token = longest + 8;
    double panel_w = 24.0 + per_token * (double)n;
    if (panel_w < 150) panel_w = 150;
    size_t cols = (size_t)floor((1500.0 + 34.0) / (panel_w + 34.0));
    if (cols < 1) cols = 1;
    if (cols > MAX_COLS) cols = MAX_COLS;
    if (cols > n_temps) cols = n_temps;
    size_t rows = (n_temps + cols - 1) / cols;
    cols = (n_temps + rows - 1) / rows;
    double slot = panel_w / (double)n;
    double angle = longest > slot * 0.92 ? -M_PI / 4 : 0.0;
    double label_h = angle != 0.0 ? longest * 0.72 + 10 : 16;
    if (label_h > 90) label_h = 90;
    const double panel_h = 210, left = 58, right = 18, gap_x = 34, top = 74;
    double below = 8 + label_h + 18; /* token labels, then the entropy line */
    double gap_y = 30 + below;
    double width = left + (double)cols * panel_w + (double)(cols - 1) * gap_x + right;
    double height = top + (double)rows * panel_h + (double)(rows - 1) * gap_y + below + 14;

    ts_plot *pl;
    ts_status st = ts_plot_begin(path, width, height, &pl, err, err_size);
    if (st != TS_OK) {
        free(probs);
        free(ent);
        return st;
    }
    cairo_t *cr = ts_plot_cairo(pl);

    /* common title */
    char buf[160];
    cairo_set_source_rgb(cr, 0.08, 0.08, 0.08);
    ts_plot_bold(cr, true);
    ts_plot_text(cr, width / 2, 12, 15, 0.5, 0.0,
                 title ? title : "Temperature softmax: p = softmax(z / T)");
    ts_plot_bold(cr, false);
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    ts_plot_text(cr, width / 2, 34, 9.5, 0.5, 0.0,
                 "T < 1 sharpens the distribution, T > 1 flattens it; "
                 "the number above each bar is its probability");

    for (size_t k = 0; k < n_temps; k++) {
        size_t r = k / cols, c = k % cols;
        ts_axes ax = {
            .x = left + (double)c * (panel_w + gap_x),
            .y = top + (double)r * (panel_h + gap_y),
            .w = panel_w,
            .h = panel_h,
            .xmin = 0,
            .xmax = (double)n,
            .ymin = 0,
            .ymax = 1.1,
            .hide_xticks = true,
            .emphasis = temperatures[k] == 1.0,
        };
        draw_panel(cr, &ax, probs + k * n, n, labels, temperatures[k], c == 0, angle);
        cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
        if (ax.emphasis) cairo_set_source_rgb(cr, 0.75, 0.30, 0.0);
        /* Significant digits, not decimals: 0.0005 nats is not 0.001. */
        char hn[32], hb[32];
        ts_plot_format_sig(hn, sizeof hn, ent[k], 3);
        ts_plot_format_sig(hb, sizeof hb, ent[k] / M_LN2, 3);
        snprintf(buf, sizeof buf, "entropy %s nats = %s bits", hn, hb);
        ts_plot_text_as(cr, "entropy", ax.x + ax.w / 2, ax.y + ax.h + 8 + label_h, 8.5, 0.5, 0.0,
                        0.0, buf);
    }
    free(probs);
    free(ent);
    return ts_plot_end(pl, err, err_size);
}

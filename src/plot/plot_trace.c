/*
 * plot_trace.c — temperature along a text: for each token position, the
 * token's surprisal under the model at T = 1 as a bar shaded by the token's
 * rank, and the entropy of the model's next-token distribution (at T = 1 as
 * a step line, at the chosen T dashed), so the tokens that surprised the
 * model stand out against how uncertain it was. Rows of at most 64 tokens
 * keep the token labels legible; very long texts are drawn in one panel
 * without labels. Contract: ts_plot_trace in include/tempscale.h.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define PER_ROW    64
#define MAX_ROWS   10
#define LABEL_SIZE 8.0
#define LABEL_MAX  14 /* code points per token label */
#define LEFT       66.0
#define ROW_H      150.0

/* Rank classes, shaded light (likely) to dark (unlikely): viridis reversed. */
static const struct {
    int64_t max_rank;
    const char *label;
    double u;
} rank_class[5] = {
    {1, "rank 1", 0.86},
    {5, "rank 2\u20135", 0.62},
    {20, "rank 6\u201320", 0.42},
    {100, "rank 21\u2013100", 0.22},
    {INT64_MAX, "rank > 100", 0.0},
};

static int class_of(int64_t rank)
{
    for (int c = 0; c < 5; c++)
        if (rank <= rank_class[c].max_rank) return c;
    return 4;
}

ts_status ts_plot_trace(const char *path, const ts_trace_token *tok, size_t n, double temperature,
                        const char *title, char *err, size_t err_size)
{
    if (!tok || n == 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: trace figure: no tokens", path);
    double ymax = 0;
    bool any_t = false;
    for (size_t i = 0; i < n; i++) {
        if (!(tok[i].surprisal >= 0) || !(tok[i].entropy >= 0) || tok[i].rank < 1)
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "%s: trace figure: token %zu: surprisal %g, entropy %g, rank %lld "
                             "(need surprisal >= 0, entropy >= 0, rank >= 1)",
                             path, i, tok[i].surprisal, tok[i].entropy, (long long)tok[i].rank);
        ymax = fmax(ymax, fmax(tok[i].surprisal, tok[i].entropy));
        if (isfinite(tok[i].entropy_t)) {
            any_t = true;
            ymax = fmax(ymax, tok[i].entropy_t);
        }
    }
    if (any_t && (isnan(temperature) || temperature < 0))
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "%s: temperature %g: must be >= 0 (0 = argmax, inf = uniform)", path,
                         temperature);

    bool labels = n <= (size_t)PER_ROW * MAX_ROWS;
    size_t per_row = labels ? (n < PER_ROW ? n : PER_ROW) : n;
    size_t rows = labels ? (n + per_row - 1) / per_row : 1;
    if (labels)
        per_row = (n + rows - 1) / rows; /* balanced: 150 tokens are 3 x 50, not 64 + 64 + 22 */
    double slot = labels ? fmin(40.0, fmax(15.0, 980.0 / (double)per_row)) : 0;
    double plot_w = labels ? fmax(420.0, slot * (double)per_row) : 1100.0;
    if (labels) slot = plot_w / (double)per_row;

    /* Label band height: the longest label, rotated to read bottom to top. */
    double label_h = 0;
    cairo_t *m = ts_plot_scratch();
    char buf[LABEL_MAX * 4 + 8];
    if (labels)
        for (size_t i = 0; i < n; i++) {
            ts_plot_visible_text(tok[i].text, true, LABEL_MAX, buf, sizeof buf);
            label_h = fmax(label_h, ts_plot_text_width(m, LABEL_SIZE, buf));
        }
    label_h = labels ? label_h + 8 : 0;
    /* Without labels the text is long: per-token entropy steps become a solid block, so
     * the entropy lines are centred running means over `window` tokens. */
    size_t window = labels ? 1 : (n + 159) / 160;
    char tname[32], tline[96], t1line[96], mean[48] = "";
    ts_plot_format_temperature(tname, sizeof tname, temperature);
    if (window > 1) snprintf(mean, sizeof mean, " (mean over %zu tokens)", window);
    snprintf(tline, sizeof tline, "entropy at T = %s%s", tname, mean);
    snprintf(t1line, sizeof t1line, "entropy at T = 1%s", mean);
    ts_legend_entry e[8];
    size_t ne = 0;
    for (int c = 0; c < 5; c++)
        e[ne++] =
            (ts_legend_entry){rank_class[c].label, ts_plot_cmap(TS_CMAP_VIRIDIS, rank_class[c].u),
                              TS_KEY_BOX, 1.0, 0};
    e[ne++] = (ts_legend_entry){t1line, {0.1, 0.1, 0.1}, TS_KEY_LINE, 1.0, 1.6};
    if (any_t) e[ne++] = (ts_legend_entry){tline, ts_plot_palette(3), TS_KEY_DASHED, 1.0, 1.6};
    double W = LEFT + plot_w + 24;
    ts_legend_layout lay;
    ts_legend_measure(m, e, ne, "surprisal bars, by the token's rank", W - 40, 0, &lay);
    cairo_destroy(m);

    double top = (title ? 40 : 14) + lay.h + 16;
    double row_pitch = ROW_H + 10 + label_h + 28;
    double H = top + (double)rows * row_pitch - 28 + (labels ? 14 : 40);

    ts_plot *pl;
    ts_status st = ts_plot_begin(path, W, H, &pl, err, err_size);
    if (st != TS_OK) return st;
    cairo_t *cr = ts_plot_cairo(pl);
    if (title) {
        cairo_set_source_rgb(cr, 0.05, 0.05, 0.05);
        ts_plot_bold(cr, true);
        ts_plot_text_as(cr, "figure-title", W / 2, 14, 14, 0.5, 0, 0, title);
        ts_plot_bold(cr, false);
    }
    ts_legend_draw(cr, (W - lay.w) / 2, title ? 40 : 14, e, ne,
                   "surprisal bars, by the token's rank", &lay);

    for (size_t r = 0; r < rows; r++) {
        size_t first = r * per_row, count = n - first < per_row ? n - first : per_row;
        ts_axes ax = {.x = LEFT,
                      .y = top + (double)r * row_pitch,
                      .w = plot_w,
                      .h = ROW_H,
                      .xmin = (double)first - 0.5,
                      .xmax = (double)(first + per_row) - 0.5,
                      .ymin = 0,
                      .ymax = ymax > 0 ? ymax * 1.08 : 1,
                      .x_integer = true,
                      .hide_xticks = labels};
        ts_axes_frame(cr, &ax, NULL, labels ? NULL : "token position", "nats");
        if (labels && rows > 1) {
            /* Which tokens this row holds, above its top right corner. */
            char span[64];
            snprintf(span, sizeof span, "tokens %zu\u2013%zu", first, first + count - 1);
            cairo_set_source_rgb(cr, 0.4, 0.4, 0.4);
            ts_plot_text(cr, ax.x + ax.w, ax.y - 3, 8.5, 1.0, 1.0, span);
        }
        ts_axes_clip(cr, &ax);
        double bw = fmax(0.5, (ts_axes_px(&ax, 1) - ts_axes_px(&ax, 0)) * (labels ? 0.78 : 1.0));
        for (size_t i = first; i < first + count; i++) {
            double x = ts_axes_px(&ax, (double)i), y = ts_axes_py(&ax, tok[i].surprisal);
            int c = class_of(tok[i].rank);
            ts_plot_set_rgb(cr, ts_plot_cmap(TS_CMAP_VIRIDIS, rank_class[c].u), 1.0);
            ts_plot_fill_rect(cr, "bar", x - bw / 2, y, bw, ts_axes_py(&ax, 0) - y,
                              rank_class[c].label);
        }
        /* Entropy lines: steps centred on the tokens. */
        for (int which = 0; which < 2; which++) {
            if (which == 1 && !any_t) break;
            bool started = false;
            for (size_t i = first; i < first + count; i++) {
                double v = which ? tok[i].entropy_t : tok[i].entropy;
                if (window > 1) { /* centred running mean of the finite values */
                    size_t a = i >= window / 2 ? i - window / 2 : 0;
                    size_t b = i + window / 2 < n ? i + window / 2 : n - 1;
                    double sum = 0;
                    size_t cnt = 0;
                    for (size_t j = a; j <= b; j++) {
                        double u = which ? tok[j].entropy_t : tok[j].entropy;
                        if (isfinite(u)) {
                            sum += u;
                            cnt++;
                        }
                    }
                    v = cnt ? sum / (double)cnt : NAN;
                }
                if (!isfinite(v)) {
                    started = false;
                    continue;
                }
                double y = ts_axes_py(&ax, v);
                double x0 = ts_axes_px(&ax, (double)i - 0.5), x1 = ts_axes_px(&ax, (double)i + 0.5);
                if (window > 1) {
                    x0 = x1 = ts_axes_px(&ax, (double)i); /* a smooth line, not steps */
                }
                if (started)
                    cairo_line_to(cr, x0, y);
                else
                    cairo_move_to(cr, x0, y);
                cairo_line_to(cr, x1, y);
                started = true;
            }
            double dash[2] = {4, 2.5};
            if (which) {
                cairo_set_dash(cr, dash, 2, 0);
                ts_plot_color(cr, 3, 1.0);
            } else {
                cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
            }
            cairo_set_line_width(cr, 1.6);
            cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
        }
        cairo_restore(cr);
        if (labels) {
            cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
            for (size_t i = first; i < first + count; i++) {
                ts_plot_visible_text(tok[i].text, true, LABEL_MAX, buf, sizeof buf);
                ts_plot_text_as(cr, "token", ts_axes_px(&ax, (double)i), ax.y + ax.h + 4,
                                LABEL_SIZE, 1.0, 0.5, -M_PI / 2, buf);
            }
        }
    }
    return ts_plot_end(pl, err, err_size);
}

/*
 * plot_reliability.c — reliability diagrams (Guo et al. 2017, Fig. 1 style):
 * per panel, the accuracy of each equal-width confidence bin as a bar, the gap
 * between accuracy and the bin's mean confidence shaded (its width-weighted
 * sum is the ECE): red where the bin is over-confident (accuracy below
 * confidence), purple where under-confident; the diagonal, ECE in the corner,
 * and beneath it a histogram of the confidences (one y scale for all panels,
 * so their shapes compare) with the mean confidence and accuracy marked.
 * Optionally a first panel with NLL(T) (the LM path). The legend lists every
 * colour and sits below the panels, off the data. Contract:
 * ts_plot_reliability in include/tempscale.h; built on the plot core.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

#define PANEL_W    330.0
#define MAIN_H     300.0
#define HIST_H     80.0
#define MARGIN_L   62.0
#define GAP_X      46.0
#define TOP        58.0
#define LEGEND_GAP 50.0 /* from the histogram's bottom to the legend: ticks and x label */

/* The colours every key refers to (the legend draws exactly these). */
#define C_BAR   0 /* palette: accuracy bars */
#define C_OVER  3 /* red: over-confident gap */
#define C_UNDER 4 /* purple: under-confident gap */
#define C_CONF  1 /* orange: mean confidence */
#define C_ACC   2 /* green: accuracy (all rows) */
#define C_HIST  7 /* grey: histogram */
#define A_BAR   0.85
#define A_OVER  0.30
#define A_UNDER 0.80
#define A_HIST  0.75

/* The reliability panel with its histogram; am / ah laid out, ah.ymax shared by all panels. */
static void draw_panel(cairo_t *cr, const ts_reliability_panel *pn, const ts_axes *am,
                       const ts_axes *ah, bool first)
{
    ts_axes_frame(cr, am, pn->title, NULL, first ? "accuracy" : NULL);
    size_t total = 0;
    double sum_conf = 0, sum_acc = 0;
    for (int32_t b = 0; b < pn->n_bins; b++) {
        total += pn->bins[b].count;
        sum_conf += pn->bins[b].mean_confidence * (double)pn->bins[b].count;
        sum_acc += pn->bins[b].accuracy * (double)pn->bins[b].count;
    }
    ts_axes_clip(cr, am);
    for (int32_t b = 0; b < pn->n_bins; b++) {
        const ts_calib_bin *bin = &pn->bins[b];
        if (!bin->count) continue;
        double x0 = ts_axes_px(am, bin->lo) + 0.5, x1 = ts_axes_px(am, bin->hi) - 0.5;
        double ya = ts_axes_py(am, bin->accuracy), y0 = ts_axes_py(am, 0);
        char what[64];
        snprintf(what, sizeof what, "bin %d", (int)b);
        ts_plot_color(cr, C_BAR, A_BAR);
        ts_plot_fill_rect(cr, "bar", x0, ya, x1 - x0, y0 - ya, what);
        cairo_rectangle(cr, x0, ya, x1 - x0, y0 - ya);
        cairo_set_source_rgba(cr, 0.05, 0.2, 0.4, 0.9);
        cairo_set_line_width(cr, 0.6);
        cairo_stroke(cr);
        /* The gap from accuracy to the bin's mean confidence: above the bar when
         * over-confident, inside it when under-confident. */
        double yc = ts_axes_py(am, bin->mean_confidence);
        if (fabs(yc - ya) < 1e-9) continue;
        bool over = bin->mean_confidence > bin->accuracy;
        int c = over ? C_OVER : C_UNDER;
        ts_plot_color(cr, c, over ? A_OVER : A_UNDER);
        ts_plot_fill_rect(cr, over ? "gap-over" : "gap-under", x0, fmin(ya, yc), x1 - x0,
                          fabs(yc - ya), what);
        cairo_rectangle(cr, x0, fmin(ya, yc), x1 - x0, fabs(yc - ya));
        ts_plot_color(cr, c, 0.85);
        cairo_set_line_width(cr, 0.7);
        cairo_stroke(cr);
    }
    /* The diagonal: perfect calibration. */
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    cairo_set_line_width(cr, 1.2);
    double dash[2] = {5, 4};
    cairo_set_dash(cr, dash, 2, 0);
    cairo_move_to(cr, ts_axes_px(am, 0), ts_axes_py(am, 0));
    cairo_line_to(cr, ts_axes_px(am, 1), ts_axes_py(am, 1));
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    cairo_restore(cr);

    /* ECE box, top left (above the diagonal's empty corner). */
    char buf[96];
    snprintf(buf, sizeof buf, "ECE = %.2f %%", 100 * pn->ece);
    ts_plot_bold(cr, true);
    double tw = ts_plot_text_width(cr, 12, buf);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_rectangle(cr, am->x + 8, am->y + 8, tw + 14, 22);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_set_line_width(cr, 0.8);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    ts_plot_text(cr, am->x + 15, am->y + 19, 12, 0, 0.5, buf);
    ts_plot_bold(cr, false);

    /* Histogram of confidences: fraction of rows per bin, on the shared scale. */
    ts_axes_frame(cr, ah, NULL, "confidence (max softmax)", first ? "fraction of rows" : NULL);
    ts_axes_clip(cr, ah);
    for (int32_t b = 0; b < pn->n_bins && total; b++) {
        const ts_calib_bin *bin = &pn->bins[b];
        double x0 = ts_axes_px(ah, bin->lo) + 0.5, x1 = ts_axes_px(ah, bin->hi) - 0.5;
        double yt = ts_axes_py(ah, (double)bin->count / (double)total), yb = ts_axes_py(ah, 0);
        ts_plot_color(cr, C_HIST, A_HIST);
        ts_plot_fill_rect(cr, "hist", x0, yt, x1 - x0, yb - yt, NULL);
    }
    if (total) {
        /* Mean confidence (orange) and accuracy (green): their distance is the overall gap. */
        double marks[2] = {sum_conf / (double)total, sum_acc / (double)total};
        int colors[2] = {C_CONF, C_ACC};
        for (int i = 0; i < 2; i++) {
            ts_plot_color(cr, colors[i], 1.0);
            cairo_set_line_width(cr, 2.0);
            cairo_move_to(cr, ts_axes_px(ah, marks[i]), ah->y);
            cairo_line_to(cr, ts_axes_px(ah, marks[i]), ah->y + ah->h);
            cairo_stroke(cr);
        }
    }
    cairo_restore(cr);
}

/* Largest fraction of rows in one bin over all panels: the histograms' shared scale. */
static double hist_max(const ts_reliability_panel *panels, size_t n_panels)
{
    double ymax = 0;
    for (size_t i = 0; i < n_panels; i++) {
        size_t total = 0;
        for (int32_t b = 0; b < panels[i].n_bins; b++)
            total += panels[i].bins[b].count;
        for (int32_t b = 0; b < panels[i].n_bins && total; b++)
            ymax = fmax(ymax, (double)panels[i].bins[b].count / (double)total);
    }
    return ymax;
}

static void draw_nll_curve(cairo_t *cr, const ts_nll_curve *c, const ts_axes *ax)
{
    ts_axes_frame(cr, ax, "mean NLL vs temperature", "temperature T", "NLL (nats / token)");
    ts_axes_clip(cr, ax);
    ts_plot_color(cr, 0, 1.0);
    cairo_set_line_width(cr, 2.0);
    for (size_t i = 0; i < c->n; i++) {
        double x = ts_axes_px(ax, c->t[i]), y = ts_axes_py(ax, c->nll[i]);
        if (i == 0)
            cairo_move_to(cr, x, y);
        else
            cairo_line_to(cr, x, y);
    }
    cairo_stroke(cr);
    double ts[2] = {1.0, c->t_star}, ns[2] = {c->nll_at_1, c->nll_at_star};
    int colors[2] = {7, 3};
    for (int i = 0; i < 2; i++) {
        ts_plot_color(cr, colors[i], 1.0);
        cairo_set_line_width(cr, 1.0);
        double dash[2] = {4, 3};
        cairo_set_dash(cr, dash, 2, 0);
        cairo_move_to(cr, ts_axes_px(ax, ts[i]), ax->y);
        cairo_line_to(cr, ts_axes_px(ax, ts[i]), ax->y + ax->h);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        ts_plot_marker(cr, "nll-point", TS_MARK_CIRCLE, ts_axes_px(ax, ts[i]),
                       ts_axes_py(ax, ns[i]), 4.0, ts_plot_palette(colors[i]), 1.0, false, NULL);
    }
    cairo_restore(cr);
    char l1[80], l2[80];
    snprintf(l1, sizeof l1, "T = 1: NLL %.4f", c->nll_at_1);
    snprintf(l2, sizeof l2, "T* = %.3f: NLL %.4f", c->t_star, c->nll_at_star);
    ts_legend_entry e[2] = {{l1, ts_plot_palette(colors[0]), TS_KEY_DASHED, 1.0, 1.2},
                            {l2, ts_plot_palette(colors[1]), TS_KEY_DASHED, 1.0, 1.2}};
    ts_legend_layout lay;
    ts_legend_measure(cr, e, 2, NULL, 0, 0, &lay);
    /* Where the curve is not: test its points (and the two markers). */
    double px[256 + 2], py[256 + 2];
    size_t np = 0;
    for (size_t i = 0; i < c->n && np < 256; i++) {
        size_t j = c->n <= 256 ? i : i * c->n / 256;
        px[np] = ts_axes_px(ax, c->t[j]);
        py[np++] = ts_axes_py(ax, c->nll[j]);
    }
    for (int i = 0; i < 2; i++) {
        px[np] = ts_axes_px(ax, ts[i]);
        py[np++] = ts_axes_py(ax, ns[i]);
    }
    double lx, ly;
    ts_plot_best_spot(ax, lay.w, lay.h, px, py, np, &lx, &ly);
    ts_legend_draw(cr, lx, ly, e, 2, NULL, &lay);
}

ts_status ts_plot_reliability(const char *path, const ts_reliability_panel *panels, size_t n_panels,
                              const ts_nll_curve *curve, const char *title, char *err,
                              size_t err_size)
{
    if (n_panels == 0 || n_panels > 4)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: %zu reliability panels (1 to 4)", path,
                         n_panels);
    for (size_t i = 0; i < n_panels; i++)
        if (panels[i].n_bins < 1 || !panels[i].bins)
            return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: panel %zu has no bins", path, i);
    if (curve && (curve->n < 2 || !curve->t || !curve->nll))
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: NLL curve needs >= 2 points", path);
    size_t cols = n_panels + (curve != NULL);
    double width = MARGIN_L + (double)cols * PANEL_W + (double)(cols - 1) * GAP_X + 24;

    /* The legend below the panels lists every colour drawn in them. */
    const ts_legend_entry e[6] = {
        {"accuracy per bin", ts_plot_palette(C_BAR), TS_KEY_BOX, A_BAR, 0},
        {"gap: over-confident (accuracy < confidence)", ts_plot_palette(C_OVER), TS_KEY_BOX, A_OVER,
         0},
        {"gap: under-confident (accuracy > confidence)", ts_plot_palette(C_UNDER), TS_KEY_BOX,
         A_UNDER, 0},
        {"perfect calibration", (ts_rgb){0.25, 0.25, 0.25}, TS_KEY_DASHED, 1.0, 1.2},
        {"mean confidence (all rows)", ts_plot_palette(C_CONF), TS_KEY_LINE, 1.0, 2.0},
        {"accuracy (all rows)", ts_plot_palette(C_ACC), TS_KEY_LINE, 1.0, 2.0},
    };
    ts_legend_layout lay;
    {
        cairo_t *m = ts_plot_scratch();
        ts_legend_measure(m, e, 6, NULL, width - 40, 0, &lay);
        cairo_destroy(m);
    }
    double legend_y = TOP + MAIN_H + 14 + HIST_H + LEGEND_GAP;
    double height = legend_y + lay.h + 12;
    ts_plot *pl;
    ts_status st = ts_plot_begin(path, width, height, &pl, err, err_size);
    if (st != TS_OK) return st;
    cairo_t *cr = ts_plot_cairo(pl);
    if (title) {
        ts_plot_bold(cr, true);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        ts_plot_text_as(cr, "figure-title", width / 2, 14, 14, 0.5, 0, 0, title);
        ts_plot_bold(cr, false);
    }
    double x = MARGIN_L;
    if (curve) {
        ts_axes ax = {.x = x, .y = TOP, .w = PANEL_W, .h = MAIN_H + 14 + HIST_H, .xlog = true};
        ax.xmin = curve->t[0];
        ax.xmax = curve->t[curve->n - 1];
        ax.ymin = INFINITY;
        ax.ymax = -INFINITY;
        for (size_t i = 0; i < curve->n; i++) {
            ax.ymin = fmin(ax.ymin, curve->nll[i]);
            ax.ymax = fmax(ax.ymax, curve->nll[i]);
        }
        double pad = (ax.ymax - ax.ymin) * 0.08 + 1e-9;
        ax.ymin -= pad;
        ax.ymax += pad;
        draw_nll_curve(cr, curve, &ax);
        x += PANEL_W + GAP_X;
    }
    double hmax = hist_max(panels, n_panels);
    for (size_t i = 0; i < n_panels; i++) {
        ts_axes am = {.x = x,
                      .y = TOP,
                      .w = PANEL_W,
                      .h = MAIN_H,
                      .xmin = 0,
                      .xmax = 1,
                      .ymin = 0,
                      .ymax = 1,
                      .hide_xticks = true};
        ts_axes ah = {.x = x,
                      .y = TOP + MAIN_H + 14,
                      .w = PANEL_W,
                      .h = HIST_H,
                      .xmin = 0,
                      .xmax = 1,
                      .ymin = 0,
                      .ymax = hmax > 0 ? hmax * 1.15 : 1};
        am.emphasis = panels[i].emphasis;
        draw_panel(cr, &panels[i], &am, &ah, i == 0 && !curve);
        x += PANEL_W + GAP_X;
    }
    ts_legend_draw(cr, (width - lay.w) / 2, legend_y, e, 6, NULL, &lay);
    return ts_plot_end(pl, err, err_size);
}

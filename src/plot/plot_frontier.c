/*
 * plot_frontier.c — the figures of `tempscale diversity`:
 *   the quality-diversity frontier (Caccia et al. 2020, "Language GANs
 *   falling short", Fig. 1 style): diversity on x, mean NLL under T = 1 on y,
 *   one point per temperature labelled with its T, 95 % whiskers on both
 *   axes, one curve per sampler setting;
 *   metrics vs T: small multiples, x = T on a log axis (T = 0 and inf at its
 *   ends), a line per setting with its interval as a band.
 * Contracts: ts_plot_frontier, ts_plot_metrics in include/tempscale.h.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CURVES 10

/* ---- shared ---------------------------------------------------------------- */

typedef struct box {
    double x, y, w, h;
    int weight; /* cost of covering it: markers and labels 10, line samples 1 */
    int ring;   /* place_label: 0 = next to its point, 1-2 farther out (gets a leader) */
} box;

static bool overlaps(box a, box b)
{
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/* Grow [*lo, *hi] to hold v (finite only). */
static void extend(double v, double *lo, double *hi)
{
    if (!isfinite(v)) return;
    *lo = fmin(*lo, v);
    *hi = fmax(*hi, v);
}

/* A range padded by frac on each side; a degenerate one opened around its value. */
static void pad_range(double *lo, double *hi, double frac)
{
    if (!(*hi >= *lo)) {
        *lo = 0;
        *hi = 1;
        return;
    }
    double span = *hi - *lo;
    if (span <= 1e-12 * fmax(1.0, fabs(*hi))) {
        /* One value: a window of 20 % of it (at least 0.1) around it. */
        double half = fmax(fabs(*hi) * 0.1, 0.05);
        *lo -= half;
        *hi += half;
        return;
    }
    *lo -= span * frac;
    *hi += span * frac;
}

/* ---- the frontier ------------------------------------------------------------ */

typedef struct placed {
    box *b;
    size_t n, cap;
} placed;

static void placed_add(placed *p, box b)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        box *nb = realloc(p->b, cap * sizeof *nb);
        if (!nb) return; /* a label may then overlap: cosmetic only */
        p->b = nb;
        p->cap = cap;
    }
    p->b[p->n++] = b;
}

/*
 * Place a point label of w x h beside a marker at (px, py) of radius r: eight
 * positions around it (upper right first, where a rising frontier leaves
 * room) at three distances; the first that covers nothing placed and stays
 * inside ax, else the one covering the least (labels and markers weigh ten
 * times a line).
 */
static box place_label(const placed *occ, const ts_axes *ax, double px, double py, double r,
                       double w, double h)
{
    box best = {0};
    long best_cost = -1;
    for (int ring = 0; ring < 3; ring++) {
        double d = r + 2.5 + 8.0 * ring;
        double cand[8][2] = {
            {px + d, py - d - h},         {px + d, py + d},         {px - d - w, py - d - h},
            {px - d - w, py + d},         {px + d + 2, py - h / 2}, {px - d - 2 - w, py - h / 2},
            {px - w / 2, py - d - 2 - h}, {px - w / 2, py + d + 2},
        };
        for (int c = 0; c < 8; c++) {
            box b = {cand[c][0], cand[c][1], w, h, 10, ring};
            if (b.x < ax->x + 2 || b.x + b.w > ax->x + ax->w - 2 || b.y < ax->y + 2 ||
                b.y + b.h > ax->y + ax->h - 2)
                continue;
            long cost = ring; /* nearer is better, all else equal */
            for (size_t i = 0; i < occ->n; i++)
                if (overlaps(b, occ->b[i])) cost += 4 * occ->b[i].weight;
            if (best_cost < 0 || cost < best_cost) {
                best = b;
                best_cost = cost;
            }
            if (cost == ring) return b;
        }
    }
    if (best_cost < 0) best = (box){px + r + 2.5, py - r - 2.5 - h, w, h, 10, 0};
    return best;
}

static void whisker(cairo_t *cr, double x0, double y0, double x1, double y1, bool horizontal)
{
    const double cap = 3.0;
    ts_plot_note(cr, "whisker", fmin(x0, x1) - (horizontal ? 0 : cap),
                 fmin(y0, y1) - (horizontal ? cap : 0), fabs(x1 - x0) + (horizontal ? 0 : 2 * cap),
                 fabs(y1 - y0) + (horizontal ? 2 * cap : 0), horizontal ? "x" : "y");
    cairo_move_to(cr, x0, y0);
    cairo_line_to(cr, x1, y1);
    if (horizontal) {
        cairo_move_to(cr, x0, y0 - cap);
        cairo_line_to(cr, x0, y0 + cap);
        cairo_move_to(cr, x1, y1 - cap);
        cairo_line_to(cr, x1, y1 + cap);
    } else {
        cairo_move_to(cr, x0 - cap, y0);
        cairo_line_to(cr, x0 + cap, y0);
        cairo_move_to(cr, x1 - cap, y1);
        cairo_line_to(cr, x1 + cap, y1);
    }
    cairo_stroke(cr);
}

static bool point_ok(const ts_frontier_point *p)
{
    return isfinite(p->x.value) && isfinite(p->y.value) && !isnan(p->temperature);
}

ts_status ts_plot_frontier(const char *path, const ts_frontier_curve *curves, size_t n_curves,
                           const char *x_label, const char *y_label, const char *title, char *err,
                           size_t err_size)
{
    if (!curves || n_curves == 0 || n_curves > MAX_CURVES)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: frontier: %zu curves (1 to %d)", path,
                         n_curves, MAX_CURVES);
    size_t total = 0, max_n = 0;
    for (size_t c = 0; c < n_curves; c++) {
        if (!curves[c].points || curves[c].n == 0)
            return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: frontier: curve %zu has no points",
                             path, c);
        for (size_t i = 0; i < curves[c].n; i++)
            if (curves[c].points[i].temperature < 0)
                return ts_errorf(err, err_size, TS_ERR_INVALID,
                                 "%s: frontier: curve %zu: temperature %g: must be >= 0", path, c,
                                 curves[c].points[i].temperature);
        total += curves[c].n;
        if (curves[c].n > max_n) max_n = curves[c].n;
    }
    if (!x_label) x_label = "distinct-2 (unique bigrams / bigrams)";
    if (!y_label) y_label = "mean NLL under T = 1 (nats / token)";

    /* Data range over values and their intervals. */
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    size_t shown = 0;
    for (size_t c = 0; c < n_curves; c++)
        for (size_t i = 0; i < curves[c].n; i++) {
            const ts_frontier_point *p = &curves[c].points[i];
            if (!point_ok(p)) continue;
            shown++;
            extend(p->x.value, &xlo, &xhi);
            extend(p->x.lo, &xlo, &xhi);
            extend(p->x.hi, &xlo, &xhi);
            extend(p->y.value, &ylo, &yhi);
            extend(p->y.lo, &ylo, &yhi);
            extend(p->y.hi, &ylo, &yhi);
        }
    if (shown == 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: frontier: no point has finite x and y",
                         path);
    pad_range(&xlo, &xhi, 0.1);
    pad_range(&ylo, &yhi, 0.1);

    const double W = 760, left = 78, plot_w = 620, plot_h = 440;
    double top = title ? 44 : 16;
    ts_axes ax = {.x = left,
                  .y = top,
                  .w = plot_w,
                  .h = plot_h,
                  .xmin = xlo,
                  .xmax = xhi,
                  .ymin = ylo,
                  .ymax = yhi};

    /* Legend entries (when the curves have names or there are several). */
    bool want_legend = n_curves > 1 || (curves[0].label && *curves[0].label);
    ts_legend_entry entries[MAX_CURVES];
    for (size_t c = 0; c < n_curves; c++)
        entries[c] = (ts_legend_entry){curves[c].label ? curves[c].label : "(unnamed)",
                                       ts_plot_palette((int)c), TS_KEY_LINE_DOT, 1.0, 1.8};
    /* Inside the axes where no point or whisker end is, else below the figure. */
    ts_legend_layout lay = {0};
    double lx = 0, ly = 0;
    bool legend_below = false;
    double *px = NULL, *py = NULL;
    size_t *order = malloc((max_n ? max_n : 1) * sizeof *order);
    double *keys = malloc((max_n ? max_n : 1) * sizeof *keys);
    px = malloc(total * 5 * sizeof *px);
    py = malloc(total * 5 * sizeof *py);
    placed occ = {0};
    if (!order || !keys || !px || !py) {
        free(order);
        free(keys);
        free(px);
        free(py);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t np = 0;
    for (size_t c = 0; c < n_curves; c++)
        for (size_t i = 0; i < curves[c].n; i++) {
            const ts_frontier_point *p = &curves[c].points[i];
            if (!point_ok(p)) continue;
            double x = ts_axes_px(&ax, p->x.value), y = ts_axes_py(&ax, p->y.value);
            px[np] = x;
            py[np++] = y;
            double ends[4][2] = {{p->x.lo, p->y.value},
                                 {p->x.hi, p->y.value},
                                 {p->x.value, p->y.lo},
                                 {p->x.value, p->y.hi}};
            for (int e = 0; e < 4; e++)
                if (isfinite(ends[e][0]) && isfinite(ends[e][1])) {
                    px[np] = ts_axes_px(&ax, ends[e][0]);
                    py[np++] = ts_axes_py(&ax, ends[e][1]);
                }
        }
    if (want_legend) {
        cairo_t *m = ts_plot_scratch();
        ts_legend_measure(m, entries, n_curves, NULL, 0, 0, &lay);
        /* Point labels sit beside points: a margin of clearance around the box. */
        const double mx = 14, my = 10;
        double spot_x, spot_y;
        if (ts_plot_best_spot(&ax, lay.w + 2 * mx, lay.h + 2 * my, px, py, np, &spot_x, &spot_y) ==
            0) {
            lx = spot_x + mx;
            ly = spot_y + my;
        } else {
            legend_below = true;
            ts_legend_measure(m, entries, n_curves, NULL, W - 40, 0, &lay);
        }
        cairo_destroy(m);
    }
    double height = top + plot_h + 52 + (legend_below ? lay.h + 12 : 0) + 8;

    ts_plot *pl;
    ts_status st = ts_plot_begin(path, W, height, &pl, err, err_size);
    if (st != TS_OK) {
        free(order);
        free(keys);
        free(px);
        free(py);
        return st;
    }
    cairo_t *cr = ts_plot_cairo(pl);
    if (title) {
        cairo_set_source_rgb(cr, 0.05, 0.05, 0.05);
        ts_plot_bold(cr, true);
        ts_plot_text_as(cr, "figure-title", W / 2, 14, 14, 0.5, 0, 0, title);
        ts_plot_bold(cr, false);
    }
    ts_axes_frame(cr, &ax, NULL, x_label, y_label);
    /* Markers, whiskers and the curves occupy their spots before any label is placed:
     * points as 10 x 10 boxes, segments sampled every 4 points as 3 x 3 boxes. */
    for (size_t i = 0; i < np; i++)
        placed_add(&occ, (box){px[i] - 5, py[i] - 5, 10, 10, 10, 0});
    if (want_legend && !legend_below) placed_add(&occ, (box){lx, ly, lay.w, lay.h, 10, 0});
    for (size_t c = 0; c < n_curves; c++) {
        const ts_frontier_curve *cv = &curves[c];
        for (size_t i = 0; i < cv->n; i++)
            keys[i] = cv->points[i].temperature;
        ts_plot_order(keys, cv->n, order);
        double x0 = NAN, y0 = NAN;
        for (size_t j = 0; j < cv->n; j++) {
            const ts_frontier_point *p = &cv->points[order[j]];
            if (!point_ok(p)) continue;
            double x = ts_axes_px(&ax, p->x.value), y = ts_axes_py(&ax, p->y.value);
            double seg[3][4] = {{x0, y0, x, y},
                                {ts_axes_px(&ax, p->x.lo), y, ts_axes_px(&ax, p->x.hi), y},
                                {x, ts_axes_py(&ax, p->y.lo), x, ts_axes_py(&ax, p->y.hi)}};
            for (int k = 0; k < 3; k++) {
                if (!isfinite(seg[k][0]) || !isfinite(seg[k][1]) || !isfinite(seg[k][2]) ||
                    !isfinite(seg[k][3]))
                    continue;
                double len = hypot(seg[k][2] - seg[k][0], seg[k][3] - seg[k][1]);
                int steps = (int)fmin(400, ceil(len / 4));
                for (int q = 0; q <= steps; q++) {
                    double u = steps ? (double)q / steps : 0;
                    placed_add(&occ,
                               (box){seg[k][0] + u * (seg[k][2] - seg[k][0]) - 1.5,
                                     seg[k][1] + u * (seg[k][3] - seg[k][1]) - 1.5, 3, 3, 1, 0});
                }
            }
            x0 = x;
            y0 = y;
        }
    }

    /* Whiskers and lines first, markers above them, labels last. */
    ts_axes_clip(cr, &ax);
    for (size_t c = 0; c < n_curves; c++) {
        const ts_frontier_curve *cv = &curves[c];
        ts_rgb col = ts_plot_palette((int)c);
        for (size_t i = 0; i < cv->n; i++)
            keys[i] = cv->points[i].temperature;
        ts_plot_order(keys, cv->n, order);
        ts_plot_set_rgb(cr, col, 0.55);
        cairo_set_line_width(cr, 1.0);
        for (size_t i = 0; i < cv->n; i++) {
            const ts_frontier_point *p = &cv->points[i];
            if (!point_ok(p)) continue;
            double x = ts_axes_px(&ax, p->x.value), y = ts_axes_py(&ax, p->y.value);
            if (isfinite(p->x.lo) && isfinite(p->x.hi))
                whisker(cr, ts_axes_px(&ax, p->x.lo), y, ts_axes_px(&ax, p->x.hi), y, true);
            if (isfinite(p->y.lo) && isfinite(p->y.hi))
                whisker(cr, x, ts_axes_py(&ax, p->y.lo), x, ts_axes_py(&ax, p->y.hi), false);
        }
        ts_plot_set_rgb(cr, col, 0.9);
        cairo_set_line_width(cr, 1.8);
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
        bool started = false;
        for (size_t j = 0; j < cv->n; j++) {
            const ts_frontier_point *p = &cv->points[order[j]];
            if (!point_ok(p)) continue;
            double x = ts_axes_px(&ax, p->x.value), y = ts_axes_py(&ax, p->y.value);
            if (started)
                cairo_line_to(cr, x, y);
            else
                cairo_move_to(cr, x, y);
            started = true;
        }
        cairo_stroke(cr);
    }
    for (size_t c = 0; c < n_curves; c++) {
        const ts_frontier_curve *cv = &curves[c];
        for (size_t i = 0; i < cv->n; i++) {
            const ts_frontier_point *p = &cv->points[i];
            if (!point_ok(p)) continue;
            char what[64];
            ts_plot_format_temperature(what, sizeof what, p->temperature);
            bool one = p->temperature == 1.0;
            ts_plot_marker(cr, "point", one ? TS_MARK_DIAMOND : TS_MARK_CIRCLE,
                           ts_axes_px(&ax, p->x.value), ts_axes_py(&ax, p->y.value),
                           one ? 6.0 : 4.5, ts_plot_palette((int)c), 1.0, true, what);
        }
    }
    cairo_restore(cr);
    /* T labels, placed around their points without colliding, in a darker shade of the
     * curve's colour; a point that coincides with one already labelled with the same T
     * (T = 0 is the same greedy text on every curve) is not labelled again. */
    for (size_t c = 0; c < n_curves; c++) {
        const ts_frontier_curve *cv = &curves[c];
        for (size_t i = 0; i < cv->n; i++) {
            const ts_frontier_point *p = &cv->points[i];
            if (!point_ok(p)) continue;
            bool seen = false;
            for (size_t c2 = 0; c2 <= c && !seen; c2++)
                for (size_t i2 = 0; i2 < (c2 < c ? curves[c2].n : i) && !seen; i2++) {
                    const ts_frontier_point *q = &curves[c2].points[i2];
                    seen = point_ok(q) && q->temperature == p->temperature &&
                           fabs(ts_axes_px(&ax, q->x.value) - ts_axes_px(&ax, p->x.value)) < 3 &&
                           fabs(ts_axes_py(&ax, q->y.value) - ts_axes_py(&ax, p->y.value)) < 3;
                }
            if (seen) continue;
            char t[32], text[48];
            ts_plot_format_temperature(t, sizeof t, p->temperature);
            snprintf(text, sizeof text, "T = %s", t);
            bool one = p->temperature == 1.0;
            ts_plot_bold(cr, one);
            double size = 8.5, w = ts_plot_text_width(cr, size, text);
            double h = ts_plot_text_height(cr, size);
            double x = ts_axes_px(&ax, p->x.value), y = ts_axes_py(&ax, p->y.value);
            box b = place_label(&occ, &ax, x, y, one ? 6.0 : 4.5, w, h);
            placed_add(&occ, b);
            ts_rgb col = ts_plot_palette((int)c);
            ts_plot_set_rgb(cr, (ts_rgb){col.r * 0.55, col.g * 0.55, col.b * 0.55}, 1.0);
            if (b.ring > 0) {
                /* A leader from the marker's edge to the nearest point of the label. */
                double tx = fmax(b.x, fmin(x, b.x + b.w)), ty = fmax(b.y, fmin(y, b.y + b.h));
                double d = hypot(tx - x, ty - y), r = one ? 6.0 : 4.5;
                if (d > r + 1) {
                    cairo_set_line_width(cr, 0.6);
                    cairo_move_to(cr, x + (tx - x) * r / d, y + (ty - y) * r / d);
                    cairo_line_to(cr, tx, ty);
                    cairo_stroke(cr);
                }
            }
            ts_plot_text_as(cr, "point-label", b.x, b.y, size, 0, 0, 0, text);
            ts_plot_bold(cr, false);
        }
    }
    if (want_legend) {
        if (legend_below)
            ts_legend_draw(cr, (W - lay.w) / 2, top + plot_h + 52, entries, n_curves, NULL, &lay);
        else
            ts_legend_draw(cr, lx, ly, entries, n_curves, NULL, &lay);
    }
    free(occ.b);
    free(order);
    free(keys);
    free(px);
    free(py);
    return ts_plot_end(pl, err, err_size);
}

/* ---- metrics vs temperature ------------------------------------------------------ */

#define MAX_SERIES 10
#define MAX_PANELS 12

/* Draw one series of one panel: band over finite T, line through all points
 * (dotted across the breaks to T = 0 / inf), markers and end-slot whiskers. */
static void draw_series(cairo_t *cr, const ts_axes *ax, const double *t, const size_t *order,
                        size_t n, const ts_plot_value *v, ts_rgb col, const char *what)
{
    /* Band: runs of consecutive finite, positive T with finite intervals. */
    for (size_t j = 0; j < n;) {
        size_t k = j;
        while (k < n) {
            size_t i = order[k];
            if (!(t[i] > 0 && isfinite(t[i]) && isfinite(v[i].value) && isfinite(v[i].lo) &&
                  isfinite(v[i].hi)))
                break;
            k++;
        }
        if (k - j >= 2) {
            for (size_t m = j; m < k; m++) {
                size_t i = order[m];
                double x = ts_axes_px(ax, t[i]), y = ts_axes_py(ax, v[i].hi);
                if (m == j)
                    cairo_move_to(cr, x, y);
                else
                    cairo_line_to(cr, x, y);
            }
            for (size_t m = k; m-- > j;) {
                size_t i = order[m];
                cairo_line_to(cr, ts_axes_px(ax, t[i]), ts_axes_py(ax, v[i].lo));
            }
            cairo_close_path(cr);
            ts_plot_set_rgb(cr, col, 0.2);
            double x1, y1, x2, y2;
            cairo_path_extents(cr, &x1, &y1, &x2, &y2);
            ts_plot_note(cr, "band", x1, y1, x2 - x1, y2 - y1, what);
            cairo_fill(cr);
        }
        j = k > j ? k : j + 1;
    }
    /* Line. */
    cairo_set_line_width(cr, 1.8);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    double prev_x = NAN, prev_y = NAN, prev_t = NAN;
    double dots[2] = {1.5, 3};
    for (size_t j = 0; j < n; j++) {
        size_t i = order[j];
        if (!isfinite(v[i].value)) {
            prev_x = NAN;
            continue;
        }
        double x = ts_axes_px(ax, t[i]), y = ts_axes_py(ax, v[i].value);
        if (!isnan(prev_x)) {
            bool across = prev_t == 0 || isinf(t[i]);
            ts_plot_set_rgb(cr, col, 0.95);
            if (across) cairo_set_dash(cr, dots, 2, 0);
            cairo_move_to(cr, prev_x, prev_y);
            cairo_line_to(cr, x, y);
            cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
        }
        prev_x = x;
        prev_y = y;
        prev_t = t[i];
    }
    /* Markers; whiskers where a point has no band (the end slots, isolated points). */
    for (size_t j = 0; j < n; j++) {
        size_t i = order[j];
        if (!isfinite(v[i].value)) continue;
        double x = ts_axes_px(ax, t[i]), y = ts_axes_py(ax, v[i].value);
        if ((t[i] == 0 || isinf(t[i])) && isfinite(v[i].lo) && isfinite(v[i].hi)) {
            ts_plot_set_rgb(cr, col, 0.7);
            cairo_set_line_width(cr, 1.0);
            whisker(cr, x, ts_axes_py(ax, v[i].lo), x, ts_axes_py(ax, v[i].hi), false);
        }
        char tt[32];
        ts_plot_format_temperature(tt, sizeof tt, t[i]);
        ts_plot_marker(cr, "point", TS_MARK_CIRCLE, x, y, t[i] == 1.0 ? 4.0 : 3.0, col, 1.0, true,
                       tt);
    }
}

ts_status ts_plot_metrics(const char *path, const ts_metrics_figure *f, char *err, size_t err_size)
{
    if (!f || !f->temperatures || f->n_temps == 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: metrics figure: no temperatures",
                         path);
    if (f->n_series == 0 || f->n_series > MAX_SERIES)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: metrics figure: %zu series (1 to %d)",
                         path, f->n_series, MAX_SERIES);
    if (!f->panels || f->n_panels == 0 || f->n_panels > MAX_PANELS)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: metrics figure: %zu panels (1 to %d)",
                         path, f->n_panels, MAX_PANELS);
    if (f->n_series > 1 && !f->series)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "%s: metrics figure: %zu series need their labels", path, f->n_series);
    for (size_t p = 0; p < f->n_panels; p++)
        if (!f->panels[p].values)
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "%s: metrics figure: panel %zu (%s) has no values", path, p,
                             f->panels[p].name ? f->panels[p].name : "unnamed");
    bool has_zero = false, has_inf = false;
    double tmin = INFINITY, tmax = 0;
    for (size_t i = 0; i < f->n_temps; i++) {
        double t = f->temperatures[i];
        if (isnan(t) || t < 0)
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "%s: temperature %g: must be >= 0 (0 = argmax, inf = uniform)", path,
                             t);
        has_zero |= t == 0;
        has_inf |= isinf(t) != 0;
        if (t > 0 && isfinite(t)) {
            tmin = fmin(tmin, t);
            tmax = fmax(tmax, t);
        }
    }
    if (!(tmax > 0)) {
        tmin = 0.5;
        tmax = 2;
    }
    if (!(tmax > tmin * 1.5)) {
        tmin /= 1.5;
        tmax *= 1.5;
    }

    size_t *order = malloc(f->n_temps * sizeof *order);
    if (!order) return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    ts_plot_order(f->temperatures, f->n_temps, order);

    const size_t cols = f->n_panels < 4 ? f->n_panels : 4;
    const size_t rows = (f->n_panels + cols - 1) / cols;
    const double pw = 250, ph = 170, gx = 78, gy = 66, left = 70;
    double top = f->title ? 62 : 34;
    double W = left + (double)cols * pw + (double)(cols - 1) * gx + 24;

    ts_legend_entry entries[MAX_SERIES];
    bool want_legend = f->series != NULL;
    ts_legend_layout lay = {0};
    for (size_t s = 0; s < f->n_series; s++)
        entries[s] = (ts_legend_entry){f->series && f->series[s] ? f->series[s] : "(unnamed)",
                                       ts_plot_palette((int)s), TS_KEY_BAND, 1.0, 1.8};
    if (want_legend) {
        cairo_t *m = ts_plot_scratch();
        ts_legend_measure(m, entries, f->n_series, NULL, W - 40, 0, &lay);
        cairo_destroy(m);
    }
    double grid_bottom = top + (double)rows * ph + (double)(rows - 1) * gy + 46;
    double H = grid_bottom + (want_legend ? lay.h + 10 : 0) + 10;

    ts_plot *pl;
    ts_status st = ts_plot_begin(path, W, H, &pl, err, err_size);
    if (st != TS_OK) {
        free(order);
        return st;
    }
    cairo_t *cr = ts_plot_cairo(pl);
    if (f->title) {
        cairo_set_source_rgb(cr, 0.05, 0.05, 0.05);
        ts_plot_bold(cr, true);
        ts_plot_text_as(cr, "figure-title", W / 2, 14, 14, 0.5, 0, 0, f->title);
        ts_plot_bold(cr, false);
    }
    for (size_t p = 0; p < f->n_panels; p++) {
        const ts_metric_panel *mp = &f->panels[p];
        size_t r = p / cols, c = p % cols;
        ts_axes ax = {.x = left + (double)c * (pw + gx),
                      .y = top + (double)r * (ph + gy),
                      .w = pw,
                      .h = ph,
                      .xlog = true,
                      .x_zero_end = has_zero,
                      .x_inf_end = has_inf,
                      .xmin = tmin / 1.3,
                      .xmax = tmax * 1.3};
        double lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < f->n_series * f->n_temps; i++) {
            if (!isfinite(mp->values[i].value)) continue;
            extend(mp->values[i].value, &lo, &hi);
            extend(mp->values[i].lo, &lo, &hi);
            extend(mp->values[i].hi, &lo, &hi);
        }
        pad_range(&lo, &hi, 0.08);
        if (mp->y_from_zero && lo < 0 && !(hi < 0)) lo = 0;
        if (mp->y_from_zero) lo = fmin(lo, 0) - (hi - fmin(lo, 0)) * 0.02;
        ax.ymin = lo;
        ax.ymax = hi;
        bool bottom_row = p + cols >= f->n_panels;
        ts_axes_frame(cr, &ax, mp->name ? mp->name : "", bottom_row ? "temperature T" : NULL,
                      mp->y_label);
        ts_axes_clip(cr, &ax);
        for (size_t s = 0; s < f->n_series; s++)
            draw_series(cr, &ax, f->temperatures, order, f->n_temps, mp->values + s * f->n_temps,
                        ts_plot_palette((int)s), entries[s].label);
        cairo_restore(cr);
    }
    if (want_legend)
        ts_legend_draw(cr, (W - lay.w) / 2, grid_bottom, entries, f->n_series, NULL, &lay);
    free(order);
    return ts_plot_end(pl, err, err_size);
}

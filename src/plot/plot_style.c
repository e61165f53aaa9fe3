/*
 * plot_style.c — colours and keys for every figure: the qualitative palette
 * (Tableau 10), colormaps (viridis, plasma, RdBu) sampled from matplotlib's
 * tables and interpolated linearly, the fixed temperature colours (T = 1
 * always the same near-black, the others cold-to-hot by rank), markers,
 * legends laid out in columns, and the "best spot" search that keeps a legend
 * off the data. Contract in src/internal.h ("plotting internals").
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEGEND_FONT 9.0
#define LEGEND_PAD  6.0
#define LEGEND_KEY  18.0
#define LEGEND_GAP  5.0  /* key to label */
#define LEGEND_COL  14.0 /* between columns */

static ts_rgb hex(unsigned c)
{
    return (ts_rgb){((c >> 16) & 0xff) / 255.0, ((c >> 8) & 0xff) / 255.0, (c & 0xff) / 255.0};
}

ts_rgb ts_plot_palette(int i)
{
    static const unsigned tableau10[10] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                           0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};
    return hex(tableau10[((i % 10) + 10) % 10]);
}

void ts_plot_set_rgb(cairo_t *cr, ts_rgb c, double alpha)
{
    cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha);
}

void ts_plot_color(cairo_t *cr, int i, double alpha)
{
    ts_plot_set_rgb(cr, ts_plot_palette(i), alpha);
}

/* ---- colormaps ---------------------------------------------------------------- */

/* matplotlib's maps at 9 (11 for RdBu) evenly spaced points; linear in between. */
static const unsigned viridis9[9] = {0x440154, 0x472d7b, 0x3b528b, 0x2c728e, 0x21918c,
                                     0x28ae80, 0x5ec962, 0xaddc30, 0xfde725};
static const unsigned plasma9[9] = {0x0d0887, 0x5402a3, 0x8b0aa5, 0xb93289, 0xdb5c68,
                                    0xf48849, 0xfebd2a, 0xf6e626, 0xf0f921};
/* ColorBrewer RdBu reversed: blue for low, red for high. */
static const unsigned rdbu11[11] = {0x053061, 0x2166ac, 0x4393c3, 0x92c5de, 0xd1e5f0, 0xf7f7f7,
                                    0xfddbc7, 0xf4a582, 0xd6604d, 0xb2182b, 0x67001f};

ts_rgb ts_plot_cmap(ts_cmap map, double u)
{
    if (isnan(u)) return (ts_rgb){0.85, 0.85, 0.85};
    const unsigned *tab = map == TS_CMAP_RDBU ? rdbu11 : map == TS_CMAP_PLASMA ? plasma9 : viridis9;
    int n = map == TS_CMAP_RDBU ? 11 : 9;
    u = fmin(1.0, fmax(0.0, u));
    double f = u * (n - 1);
    int i = (int)floor(f);
    if (i >= n - 1) return hex(tab[n - 1]);
    double s = f - i;
    ts_rgb a = hex(tab[i]), b = hex(tab[i + 1]);
    return (ts_rgb){a.r + s * (b.r - a.r), a.g + s * (b.g - a.g), a.b + s * (b.b - a.b)};
}

ts_rgb ts_plot_t1_color(void)
{
    return (ts_rgb){0.08, 0.08, 0.08};
}

/* Order of temperatures: 0 < finite < inf; NaN last. */
static int t_cmp(double a, double b)
{
    if (isnan(a) || isnan(b)) return isnan(a) - isnan(b);
    return (a > b) - (a < b);
}

void ts_plot_temperature_colors(const double *t, size_t n, ts_rgb *out)
{
    /* Distinct temperatures other than 1, and the rank of each. */
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] == 1.0) continue;
        bool first = true;
        for (size_t j = 0; j < i && first; j++)
            if (t_cmp(t[j], t[i]) == 0) first = false;
        distinct += first;
    }
    for (size_t i = 0; i < n; i++) {
        if (t[i] == 1.0) {
            out[i] = ts_plot_t1_color();
            continue;
        }
        size_t rank = 0; /* distinct temperatures (not 1) below t[i] */
        for (size_t j = 0; j < n; j++) {
            if (t[j] == 1.0 || t_cmp(t[j], t[i]) >= 0) continue;
            bool first = true;
            for (size_t k = 0; k < j && first; k++)
                if (t_cmp(t[k], t[j]) == 0) first = false;
            rank += first;
        }
        /* plasma from its dark blue to orange: its last yellows vanish on white. */
        double u = distinct > 1 ? (double)rank / (double)(distinct - 1) : 0.5;
        out[i] = ts_plot_cmap(TS_CMAP_PLASMA, 0.02 + 0.74 * u);
    }
}

/* ---- markers and rectangles ---------------------------------------------------- */

static void marker_path(cairo_t *cr, ts_marker shape, double x, double y, double r)
{
    switch (shape) {
    case TS_MARK_CIRCLE:
        cairo_new_sub_path(cr);
        cairo_arc(cr, x, y, r, 0, 2 * M_PI);
        break;
    case TS_MARK_SQUARE:
        cairo_rectangle(cr, x - r * 0.85, y - r * 0.85, r * 1.7, r * 1.7);
        break;
    case TS_MARK_DIAMOND:
        cairo_move_to(cr, x, y - r * 1.2);
        cairo_line_to(cr, x + r, y);
        cairo_line_to(cr, x, y + r * 1.2);
        cairo_line_to(cr, x - r, y);
        cairo_close_path(cr);
        break;
    case TS_MARK_TRIANGLE:
        cairo_move_to(cr, x, y - r * 1.15);
        cairo_line_to(cr, x + r, y + r * 0.75);
        cairo_line_to(cr, x - r, y + r * 0.75);
        cairo_close_path(cr);
        break;
    case TS_MARK_STAR:
        for (int i = 0; i < 10; i++) {
            double rr = i % 2 ? r * 0.5 : r * 1.3;
            double a = -M_PI / 2 + i * M_PI / 5;
            if (i == 0)
                cairo_move_to(cr, x + rr * cos(a), y + rr * sin(a));
            else
                cairo_line_to(cr, x + rr * cos(a), y + rr * sin(a));
        }
        cairo_close_path(cr);
        break;
    }
}

void ts_plot_marker(cairo_t *cr, const char *role, ts_marker shape, double x, double y, double r,
                    ts_rgb fill, double alpha, bool outline, const char *text)
{
    cairo_save(cr);
    marker_path(cr, shape, x, y, r);
    ts_plot_set_rgb(cr, fill, alpha);
    ts_plot_note(cr, role, x - r, y - r, 2 * r, 2 * r, text);
    if (outline) {
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_set_line_width(cr, 1.1);
        cairo_stroke(cr);
    } else {
        cairo_fill(cr);
    }
    cairo_restore(cr);
}

void ts_plot_fill_rect(cairo_t *cr, const char *role, double x, double y, double w, double h,
                       const char *text)
{
    cairo_rectangle(cr, x, y, w, h);
    ts_plot_note(cr, role, x, y, w, h, text);
    cairo_fill(cr);
}

/* ---- legends ------------------------------------------------------------------- */

/* Width of a layout of n entries in cols columns (column widths into col_x). */
static double layout_width(const double *label_w, size_t n, size_t cols, double *col_x)
{
    size_t rows = (n + cols - 1) / cols;
    cols = (n + rows - 1) / rows;
    double x = LEGEND_PAD;
    for (size_t c = 0; c < cols; c++) {
        double widest = 0;
        for (size_t i = c; i < n; i += cols)
            widest = fmax(widest, label_w[i]);
        if (col_x) col_x[c] = x;
        x += LEGEND_KEY + LEGEND_GAP + widest + (c + 1 < cols ? LEGEND_COL : 0);
    }
    return x + LEGEND_PAD;
}

void ts_legend_measure(cairo_t *cr, const ts_legend_entry *e, size_t n, const char *title,
                       double max_width, size_t max_rows, ts_legend_layout *out)
{
    memset(out, 0, sizeof *out);
    double stack_w[64];
    double *label_w = n <= 64 ? stack_w : malloc(n * sizeof *label_w);
    if (!label_w) { /* out of memory: one column as wide as the figure allows */
        out->cols = 1;
        out->rows = n;
        out->col_x[0] = LEGEND_PAD;
        out->w = fmax(max_width, 120);
        out->h = 2 * LEGEND_PAD + (double)n * 14;
        return;
    }
    cairo_save(cr);
    ts_plot_bold(cr, false);
    for (size_t i = 0; i < n; i++)
        label_w[i] = ts_plot_text_width(cr, LEGEND_FONT, e[i].label);
    double title_w = 0;
    if (title) {
        ts_plot_bold(cr, true);
        title_w = ts_plot_text_width(cr, LEGEND_FONT, title);
    }
    double row = ts_plot_text_height(cr, LEGEND_FONT) + 3.5;
    cairo_restore(cr);
    size_t limit = n < TS_LEGEND_MAX_COLS ? n : TS_LEGEND_MAX_COLS;
    size_t cols = 1;
    if (max_rows > 0) {
        while (cols < limit && (n + cols - 1) / cols > max_rows)
            cols++;
    } else {
        for (size_t c = limit; c > 1; c--)
            if (layout_width(label_w, n, c, NULL) <= max_width) {
                cols = c;
                break;
            }
    }
    size_t rows = n ? (n + cols - 1) / cols : 0;
    if (rows) cols = (n + rows - 1) / rows;
    out->cols = cols ? cols : 1;
    out->rows = rows;
    out->w = n ? layout_width(label_w, n, out->cols, out->col_x) : 2 * LEGEND_PAD;
    out->w = fmax(out->w, 2 * LEGEND_PAD + title_w);
    out->h = 2 * LEGEND_PAD + (double)rows * row - 3.5 + (title ? row + 1 : 0);
    if (label_w != stack_w) free(label_w);
}

static void draw_key(cairo_t *cr, const ts_legend_entry *e, double x, double cy)
{
    double alpha = e->alpha > 0 ? e->alpha : 1.0;
    double lw = e->line_width > 0 ? e->line_width : 2.0;
    cairo_save(cr);
    switch (e->kind) {
    case TS_KEY_BOX:
        ts_plot_set_rgb(cr, e->color, alpha);
        cairo_rectangle(cr, x + 2, cy - 4.5, LEGEND_KEY - 4, 9);
        cairo_fill(cr);
        break;
    case TS_KEY_BAND:
        ts_plot_set_rgb(cr, e->color, 0.22);
        cairo_rectangle(cr, x, cy - 5, LEGEND_KEY, 10);
        cairo_fill(cr);
        /* the band's centre line follows */
        /* fall through */
    case TS_KEY_LINE:
    case TS_KEY_DASHED:
    case TS_KEY_LINE_DOT:
        ts_plot_set_rgb(cr, e->color, alpha);
        cairo_set_line_width(cr, lw);
        if (e->kind == TS_KEY_DASHED) {
            double d[2] = {4, 2.5};
            cairo_set_dash(cr, d, 2, 0);
        }
        cairo_move_to(cr, x, cy);
        cairo_line_to(cr, x + LEGEND_KEY, cy);
        cairo_stroke(cr);
        if (e->kind == TS_KEY_LINE_DOT) {
            cairo_arc(cr, x + LEGEND_KEY / 2, cy, 3.0, 0, 2 * M_PI);
            cairo_fill(cr);
        }
        break;
    case TS_KEY_DOT:
        ts_plot_set_rgb(cr, e->color, alpha);
        cairo_arc(cr, x + LEGEND_KEY / 2, cy, 3.6, 0, 2 * M_PI);
        cairo_fill(cr);
        break;
    }
    ts_plot_set_rgb(cr, e->color, alpha);
    ts_plot_note(cr, "legend-key", x, cy - 5, LEGEND_KEY, 10, e->label);
    cairo_restore(cr);
}

void ts_legend_draw(cairo_t *cr, double x, double y, const ts_legend_entry *e, size_t n,
                    const char *title, const ts_legend_layout *lay)
{
    cairo_save(cr);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.92);
    cairo_rectangle(cr, x, y, lay->w, lay->h);
    ts_plot_note(cr, "legend", x, y, lay->w, lay->h, title);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.78, 0.78, 0.78);
    cairo_set_line_width(cr, 0.7);
    cairo_stroke(cr);
    double row = ts_plot_text_height(cr, LEGEND_FONT) + 3.5;
    double y0 = y + LEGEND_PAD;
    if (title) {
        ts_plot_bold(cr, true);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        ts_plot_text_as(cr, "legend-title", x + LEGEND_PAD, y0, LEGEND_FONT, 0.0, 0.0, 0.0, title);
        y0 += row + 1;
    }
    ts_plot_bold(cr, false);
    for (size_t i = 0; i < n; i++) {
        size_t r = i / lay->cols, c = i % lay->cols;
        double kx = x + lay->col_x[c];
        double cy = y0 + (double)r * row + (row - 3.5) / 2;
        draw_key(cr, &e[i], kx, cy);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        ts_plot_text_as(cr, "legend-label", kx + LEGEND_KEY + LEGEND_GAP, cy, LEGEND_FONT, 0.0, 0.5,
                        0.0, e[i].label);
    }
    cairo_restore(cr);
}

void ts_plot_temperature_entries(const double *t, const ts_rgb *c, size_t n, ts_key_kind kind,
                                 char (*labels)[32], ts_legend_entry *out)
{
    for (size_t i = 0; i < n; i++) {
        char v[24];
        ts_plot_format_temperature(v, sizeof v, t[i]);
        snprintf(labels[i], sizeof labels[i], "T = %s", v);
        out[i] = (ts_legend_entry){labels[i], c[i], kind, 1.0, t[i] == 1.0 ? 3.2 : 1.8};
    }
}

void ts_plot_legend(cairo_t *cr, double x, double y, const char *const *labels,
                    const int *color_idx, size_t n)
{
    ts_legend_entry e[64];
    if (n > 64) n = 64;
    for (size_t i = 0; i < n; i++)
        e[i] = (ts_legend_entry){labels[i], ts_plot_palette(color_idx ? color_idx[i] : (int)i),
                                 TS_KEY_BOX, 1.0, 0};
    ts_legend_layout lay;
    ts_legend_measure(cr, e, n, NULL, 0, 0, &lay);
    ts_legend_draw(cr, x, y, e, n, NULL, &lay);
}

/* ---- legend placement ---------------------------------------------------------- */

size_t ts_plot_best_spot(const ts_axes *ax, double w, double h, const double *px, const double *py,
                         size_t n, double *x, double *y)
{
    const double inset = 8;
    double left = ax->x + inset, right = ax->x + ax->w - inset - w;
    double top = ax->y + inset, bottom = ax->y + ax->h - inset - h;
    double mid = ax->x + (ax->w - w) / 2;
    double cand[6][2] = {{right, top},   {left, top}, {right, bottom},
                         {left, bottom}, {mid, top},  {mid, bottom}};
    size_t best = SIZE_MAX;
    for (int c = 0; c < 6; c++) {
        size_t covered = 0;
        for (size_t i = 0; i < n; i++)
            covered += px[i] >= cand[c][0] - 2 && px[i] <= cand[c][0] + w + 2 &&
                       py[i] >= cand[c][1] - 2 && py[i] <= cand[c][1] + h + 2;
        if (covered < best) {
            best = covered;
            *x = cand[c][0];
            *y = cand[c][1];
        }
    }
    return best;
}

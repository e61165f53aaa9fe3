/*
 * test_plot_figures.c — what every figure draws, checked through the figure
 * log (src/internal.h, "the figure log"): each figure is drawn with a log
 * active, and the tests assert on the texts, markers, rectangles, legend keys
 * and their colours and boxes. One test per defect of issue 12 §4 (each would
 * fail on the figure code before the fix) and one per new figure of issue 13
 * (file written, valid PNG / SVG / PDF, elements present). Every figure also
 * goes through check_layout: no text outside the canvas, no two texts
 * overlapping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "internal.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ts_plot_figures_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    char p[512];
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
    return 0;
}

static int count_files(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static const char *out(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* ---- reading the log ------------------------------------------------------- */

static bool is_text(const ts_plot_item *it)
{
    static const char *roles[] = {"text",         "xtick",       "ytick",        "title",
                                  "xlabel",       "ylabel",      "legend-label", "legend-title",
                                  "annotation",   "point-label", "token",        "entropy",
                                  "figure-title", "cell-value"};
    for (size_t i = 0; i < sizeof roles / sizeof *roles; i++)
        if (strcmp(it->role, roles[i]) == 0) return true;
    return false;
}

static size_t count(const ts_plot_log *log, const char *role)
{
    size_t n = 0;
    for (size_t i = 0; i < log->n; i++)
        n += strcmp(log->items[i].role, role) == 0;
    return n;
}

/* The first item of role (NULL: any) whose text contains sub (NULL: any). */
static const ts_plot_item *find(const ts_plot_log *log, const char *role, const char *sub)
{
    for (size_t i = 0; i < log->n; i++) {
        const ts_plot_item *it = &log->items[i];
        if (role && strcmp(it->role, role) != 0) continue;
        if (sub && !strstr(it->text, sub)) continue;
        return it;
    }
    return NULL;
}

/* The first item of role whose text is exactly text. */
static const ts_plot_item *find_exact(const ts_plot_log *log, const char *role, const char *text)
{
    for (size_t i = 0; i < log->n; i++)
        if (strcmp(log->items[i].role, role) == 0 && strcmp(log->items[i].text, text) == 0)
            return &log->items[i];
    return NULL;
}

static bool boxes_overlap(const ts_plot_item *a, const ts_plot_item *b, double tol)
{
    return a->x + tol < b->x + b->w - tol && b->x + tol < a->x + a->w - tol &&
           a->y + tol < b->y + b->h - tol && b->y + tol < a->y + a->h - tol;
}

static bool same_color(const ts_plot_item *a, const ts_plot_item *b)
{
    return fabs(a->r - b->r) < 1e-6 && fabs(a->g - b->g) < 1e-6 && fabs(a->b - b->b) < 1e-6 &&
           fabs(a->a - b->a) < 1e-6;
}

static double color_dist(const ts_plot_item *a, const ts_plot_item *b)
{
    return fabs(a->r - b->r) + fabs(a->g - b->g) + fabs(a->b - b->b);
}

/*
 * Layout problems: texts outside the canvas, and pairs of texts overlapping
 * (0.5 point of tolerance for antialiased edges). Each is printed.
 */
static int layout_problems(const ts_plot_log *log, const char *what)
{
    int bad = 0;
    for (size_t i = 0; i < log->n; i++) {
        const ts_plot_item *a = &log->items[i];
        if (!is_text(a)) continue;
        if (a->x < -0.5 || a->y < -0.5 || a->x + a->w > log->width + 0.5 ||
            a->y + a->h > log->height + 0.5) {
            print_error("%s: text '%s' (%s) at %.1f,%.1f %.1fx%.1f leaves the %gx%g canvas\n", what,
                        a->text, a->role, a->x, a->y, a->w, a->h, log->width, log->height);
            bad++;
        }
        for (size_t j = i + 1; j < log->n; j++) {
            const ts_plot_item *b = &log->items[j];
            if (!is_text(b) || !boxes_overlap(a, b, 0.5)) continue;
            print_error("%s: text '%s' (%s) overlaps '%s' (%s)\n", what, a->text, a->role, b->text,
                        b->role);
            bad++;
        }
    }
    return bad;
}

/* The checks every figure must pass. */
static void check_layout(const ts_plot_log *log, const char *what)
{
    assert_false(log->oom);
    assert_true(log->n > 0);
    assert_int_equal(layout_problems(log, what), 0);
}

/* The layout check itself finds overlapping and clipped texts. */
static void test_layout_check_can_fail(void **state)
{
    (void)state;
    char err[TS_ERR_SIZE];
    ts_plot *pl;
    ts_plot_log log;
    ts_plot_log_start(&log);
    assert_int_equal(ts_plot_begin(out("bad_layout.svg"), 200, 100, &pl, err, sizeof err), TS_OK);
    cairo_t *cr = ts_plot_cairo(pl);
    ts_plot_text(cr, 50, 50, 10, 0, 0, "one");
    ts_plot_text(cr, 55, 52, 10, 0, 0, "two");      /* on top of "one" */
    ts_plot_text(cr, 190, 10, 10, 0, 0, "clipped"); /* runs off the right edge */
    assert_int_equal(ts_plot_end(pl, err, sizeof err), TS_OK);
    ts_plot_log_stop();
    print_message("(two layout problems expected below)\n");
    assert_int_equal(layout_problems(&log, "bad_layout.svg"), 2);
    ts_plot_log_free(&log);
}

static const unsigned char PNG_MAGIC[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* The file at path begins with magic (a complete figure, renamed into place). */
static void assert_file_starts(const char *path, const void *magic, size_t n)
{
    unsigned char head[16] = {0};
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t got = fread(head, 1, n, f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    assert_int_equal(got, n);
    assert_memory_equal(head, magic, n);
    assert_true(size > 1000);
}

/* ---- the sweep figure (issue 12 §4) ------------------------------------------ */

/* Synthetic logits: a Zipf-like vocabulary of V tokens. */
#define V 2000
static float zipf[V];

static void make_logits(void)
{
    for (size_t i = 0; i < V; i++)
        zipf[i] = (float)(-1.3 * log((double)i + 1.0) + 0.4 * sin((double)i));
}

typedef struct sweep_data {
    double t[32], prob[32 * 10], topk[32 * 10], ent[32], ct[81], ch[81];
    int32_t ids[10];
    size_t n;
} sweep_data;

static void sweep_compute(sweep_data *d, const double *t, size_t n)
{
    make_logits();
    memcpy(d->t, t, n * sizeof *t);
    d->n = n;
    assert_int_equal(ts_sweep(zipf, V, d->t, n, 10, d->ids, d->prob, d->topk, d->ent), TS_OK);
    for (int i = 0; i < 80; i++) {
        d->ct[i] = 0.01 * pow(100.0 / 0.01, i / 79.0);
        assert_int_equal(ts_entropy_at_temperature(zipf, V, d->ct[i], &d->ch[i]), TS_OK);
    }
    d->ct[80] = INFINITY;
    assert_int_equal(ts_entropy_at_temperature(zipf, V, INFINITY, &d->ch[80]), TS_OK);
}

static void draw_sweep(ts_plot_log *log, const char *name, const sweep_data *d, bool full,
                       bool target)
{
    ts_sweep_figure f = {.temperatures = d->t,
                         .n_temps = d->n,
                         .k = 10,
                         .prob = full ? d->prob : d->topk,
                         .prob_full = full,
                         .entropy_nats = d->ent,
                         .curve_t = d->ct,
                         .curve_h = d->ch,
                         .n_curve = 81,
                         .title = "sweep"};
    if (target) {
        f.has_target = true;
        f.target_h = 2.0;
        assert_int_equal(ts_temperature_for_entropy(zipf, V, 2.0, &f.target_t), TS_OK);
    }
    char err[TS_ERR_SIZE];
    ts_plot_log_start(log);
    ts_status st = ts_plot_sweep_figure(out(name), &f, err, sizeof err);
    ts_plot_log_stop();
    if (st != TS_OK) print_error("%s\n", err);
    assert_int_equal(st, TS_OK);
    check_layout(log, name);
}

/* --full-prob changed the table but not the plot: the panel now says which it shows,
 * and draws the values given (full-vocabulary probabilities are smaller). */
static void test_sweep_full_prob(void **state)
{
    (void)state;
    const double t[3] = {0.5, 1, 2};
    sweep_data d;
    sweep_compute(&d, t, 3);
    ts_plot_log a, b;
    draw_sweep(&a, "full.svg", &d, true, false);
    draw_sweep(&b, "topk.svg", &d, false, false);
    assert_non_null(find(&a, "ylabel", "full vocabulary"));
    assert_null(find(&a, "ylabel", "renormalised"));
    assert_non_null(find(&b, "ylabel", "renormalised"));
    /* The rank-1 point of T = 2 sits lower (higher y) with full-vocabulary values. */
    const ts_plot_item *pa = find_exact(&a, "rank-point", "2");
    const ts_plot_item *pb = find_exact(&b, "rank-point", "2");
    assert_non_null(pa);
    assert_non_null(pb);
    assert_true(d.prob[2 * 10] < d.topk[2 * 10]);
    assert_true(pa->y > pb->y + 1);
    ts_plot_log_free(&a);
    ts_plot_log_free(&b);
}

/* T = 0 and T = inf vanished from the entropy panel: now markers in the end slots,
 * ticked "0" and "∞". */
static void test_sweep_zero_and_inf(void **state)
{
    (void)state;
    const double t[5] = {0, 0.5, 1, 2, INFINITY};
    sweep_data d;
    sweep_compute(&d, t, 5);
    ts_plot_log log;
    draw_sweep(&log, "ends.svg", &d, false, false);
    const ts_plot_item *ax = find(&log, "axes", "Entropy");
    assert_non_null(ax);
    const ts_plot_item *m0 = find_exact(&log, "entropy-point", "0");
    const ts_plot_item *minf = find_exact(&log, "entropy-point", "\u221e");
    const ts_plot_item *mhalf = find_exact(&log, "entropy-point", "0.5");
    assert_non_null(m0);
    assert_non_null(minf);
    assert_non_null(mhalf);
    double c0 = m0->x + m0->w / 2, cinf = minf->x + minf->w / 2;
    assert_true(c0 > ax->x && c0 < ax->x + TS_AXES_END_SLOT);
    assert_true(cinf < ax->x + ax->w && cinf > ax->x + ax->w - TS_AXES_END_SLOT);
    assert_true(mhalf->x > ax->x + TS_AXES_END_SLOT);
    /* at the entropy of their limits: 0 at the bottom, log V near the top */
    assert_true(m0->y + m0->h / 2 > minf->y + minf->h / 2 + 100);
    /* "0" and "∞" ticks under the slots */
    const ts_plot_item *t0 = NULL, *tinf = NULL;
    for (size_t i = 0; i < log.n; i++) {
        const ts_plot_item *it = &log.items[i];
        if (strcmp(it->role, "xtick") || it->x < ax->x || it->x > ax->x + ax->w) continue;
        if (!strcmp(it->text, "0")) t0 = it;
        if (!strcmp(it->text, "\u221e")) tinf = it;
    }
    assert_non_null(t0);
    assert_non_null(tinf);
    assert_true(fabs(t0->x + t0->w / 2 - c0) < 1);
    assert_true(fabs(tinf->x + tinf->w / 2 - cinf) < 1);
    ts_plot_log_free(&log);
}

/* Past 12 temperatures colours repeated and the legend dropped entries: every T listed,
 * every colour distinct, T = 1 always the same colour. */
static void test_sweep_many_temperatures(void **state)
{
    (void)state;
    double t[20];
    for (int i = 0; i < 20; i++)
        t[i] = 0.05 * pow(2.0, i * 0.4);
    t[9] = 1.0;
    sweep_data d;
    sweep_compute(&d, t, 20);
    ts_plot_log log;
    draw_sweep(&log, "many.png", &d, false, false);
    assert_file_starts(out("many.png"), PNG_MAGIC, 8);
    assert_int_equal(count(&log, "legend-key"), 20);
    const ts_plot_item *keys[20];
    size_t nk = 0;
    for (size_t i = 0; i < log.n && nk < 20; i++)
        if (!strcmp(log.items[i].role, "legend-key")) keys[nk++] = &log.items[i];
    for (size_t i = 0; i < 20; i++) {
        char want[32], v[24];
        ts_plot_format_temperature(v, sizeof v, t[i]);
        snprintf(want, sizeof want, "T = %s", v);
        assert_string_equal(keys[i]->text, want);
        for (size_t j = 0; j < i; j++)
            assert_true(color_dist(keys[i], keys[j]) > 0.02);
    }
    ts_rgb one = ts_plot_t1_color();
    assert_true(fabs(keys[9]->r - one.r) + fabs(keys[9]->g - one.g) + fabs(keys[9]->b - one.b) <
                1e-9);
    /* Every legend key inside the canvas (none dropped off the edge). */
    for (size_t i = 0; i < 20; i++)
        assert_true(keys[i]->y + keys[i]->h <= log.height && keys[i]->x >= 0);

    /* Another set of temperatures: T = 1 keeps its colour. */
    const double t2[4] = {0.7, 1, 3, INFINITY};
    sweep_data d2;
    sweep_compute(&d2, t2, 4);
    ts_plot_log log2;
    draw_sweep(&log2, "few.svg", &d2, false, false);
    const ts_plot_item *k1 = find_exact(&log2, "legend-key", "T = 1");
    assert_non_null(k1);
    assert_true(same_color(k1, keys[9]));
    ts_plot_log_free(&log);
    ts_plot_log_free(&log2);
}

/* Only decade ticks were labelled: 2 and 5 are labelled too when they fit. */
static void test_sweep_log_ticks(void **state)
{
    (void)state;
    const double t[4] = {0.1, 0.5, 1, 5};
    sweep_data d;
    sweep_compute(&d, t, 4);
    ts_plot_log log;
    draw_sweep(&log, "ticks.svg", &d, false, false);
    const ts_plot_item *ax = find(&log, "axes", "Entropy");
    const char *want[] = {"0.1", "0.2", "0.5", "1", "2", "5"};
    for (size_t w = 0; w < 6; w++) {
        bool found = false;
        for (size_t i = 0; i < log.n && !found; i++) {
            const ts_plot_item *it = &log.items[i];
            found = !strcmp(it->role, "xtick") && !strcmp(it->text, want[w]) && it->x > ax->x &&
                    it->x < ax->x + ax->w;
        }
        if (!found) print_error("x tick %s missing\n", want[w]);
        assert_true(found);
    }
    ts_plot_log_free(&log);
}

/* The target-entropy point was not labelled: a star and "target H = ... → T = ...". */
static void test_sweep_target(void **state)
{
    (void)state;
    const double t[4] = {0.3, 1, 3, 10};
    sweep_data d;
    sweep_compute(&d, t, 4);
    ts_plot_log log;
    draw_sweep(&log, "target.svg", &d, false, true);
    const ts_plot_item *star = find(&log, "target", "target H = 2 nats");
    const ts_plot_item *note = find(&log, "annotation", "target H = 2 nats \u2192 T = ");
    assert_non_null(star);
    assert_non_null(note);
    const ts_plot_item *ax = find(&log, "axes", "Entropy");
    assert_true(note->x >= ax->x && note->x + note->w <= ax->x + ax->w);
    /* and not without a target */
    ts_plot_log plain;
    draw_sweep(&plain, "plain.svg", &d, false, false);
    assert_null(find(&plain, "annotation", NULL));
    ts_plot_log_free(&log);
    ts_plot_log_free(&plain);
}

static void test_sweep_errors(void **state)
{
    (void)state;
    const double t[2] = {1, -1};
    double p[20] = {0}, h[2] = {0};
    char err[TS_ERR_SIZE];
    int before = count_files();
    ts_sweep_figure f = {.temperatures = t, .n_temps = 2, .k = 10, .prob = p, .entropy_nats = h};
    assert_int_equal(ts_plot_sweep_figure(out("bad.png"), &f, err, sizeof err), TS_ERR_INVALID);
    assert_non_null(strstr(err, "bad.png"));
    assert_non_null(strstr(err, "temperature -1"));
    f.n_temps = 0;
    assert_int_equal(ts_plot_sweep_figure(out("bad.png"), &f, err, sizeof err), TS_ERR_INVALID);
    /* the old entry point still works */
    const double ok[2] = {0.5, 1};
    assert_int_equal(
        ts_plot_sweep(out("old.pdf"), ok, 2, 10, p, h, NULL, NULL, 0, NULL, err, sizeof err),
        TS_OK);
    assert_file_starts(out("old.pdf"), "%PDF-", 5);
    assert_int_equal(count_files(), before + 1);
}

/* ---- the softmax figure (issue 12 §4) ---------------------------------------- */

/* x labels defaulted to 0..4: now "token 0" ... */
static void test_softmax_default_labels(void **state)
{
    (void)state;
    const float z[5] = {2, 1, 0.5f, 0.2f, 0.1f};
    const double t[2] = {1, 2};
    char err[TS_ERR_SIZE];
    ts_plot_log log;
    ts_plot_log_start(&log);
    assert_int_equal(ts_plot_softmax_panels(out("sm.svg"), z, 5, NULL, t, 2, NULL, err, sizeof err),
                     TS_OK);
    ts_plot_log_stop();
    check_layout(&log, "sm.svg");
    for (int i = 0; i < 5; i++) {
        char want[16];
        snprintf(want, sizeof want, "token %d", i);
        assert_non_null(find_exact(&log, "text", want));
    }
    assert_null(find_exact(&log, "text", "0"));
    /* given labels are used, control characters made visible */
    const char *labels[5] = {" the", "\n", "a", NULL, "b"};
    ts_plot_log log2;
    ts_plot_log_start(&log2);
    assert_int_equal(
        ts_plot_softmax_panels(out("sm2.svg"), z, 5, labels, t, 2, NULL, err, sizeof err), TS_OK);
    ts_plot_log_stop();
    assert_non_null(find_exact(&log2, "text", " the"));
    assert_non_null(find_exact(&log2, "text", "\u21b5"));
    assert_non_null(find_exact(&log2, "text", "token 3"));
    ts_plot_log_free(&log);
    ts_plot_log_free(&log2);
}

/* An entropy of 0.0008 nats was printed as 0.001: significant digits now. */
static void test_softmax_entropy_digits(void **state)
{
    (void)state;
    const float z[2] = {0, -9.5f};
    const double t[1] = {1};
    double p[2], h;
    assert_int_equal(ts_softmax(z, 2, 1.0, p), TS_OK);
    h = ts_entropy_nats(p, 2);
    assert_true(h > 0.0005 && h < 0.001);
    char err[TS_ERR_SIZE], want[96], hn[32], hb[32];
    ts_plot_format_sig(hn, sizeof hn, h, 3);
    ts_plot_format_sig(hb, sizeof hb, h / M_LN2, 3);
    snprintf(want, sizeof want, "entropy %s nats = %s bits", hn, hb);
    ts_plot_log log;
    ts_plot_log_start(&log);
    assert_int_equal(ts_plot_softmax_panels(out("h.svg"), z, 2, NULL, t, 1, NULL, err, sizeof err),
                     TS_OK);
    ts_plot_log_stop();
    const ts_plot_item *e = find(&log, "entropy", NULL);
    assert_non_null(e);
    assert_string_equal(e->text, want);
    assert_non_null(strstr(e->text, "entropy 0.000"));
    assert_null(strstr(e->text, "entropy 0.001 nats")); /* the old %.3f */
    /* bars of non-zero probability below 0.005 are not written as 0.00 */
    assert_null(find_exact(&log, "text", "0.00"));
    assert_non_null(find_exact(&log, "text", "<0.01"));
    ts_plot_log_free(&log);
}

/* ---- the reliability figure (issue 12 §4) ------------------------------------- */

static void fill_bins(ts_calib_bin *b, const double *acc, const double *conf, const size_t *cnt)
{
    for (int i = 0; i < 5; i++)
        b[i] = (ts_calib_bin){i * 0.2, (i + 1) * 0.2, cnt[i], conf[i], acc[i]};
}

static void draw_reliability(ts_plot_log *lg, const char *name, bool curve)
{
    /* before: over-confident everywhere; after: mixed, with under-confident bins,
     * and a confidence histogram twice as peaked as before's. */
    ts_calib_bin before[5], after[5];
    const double acc_b[5] = {0.05, 0.2, 0.35, 0.5, 0.7}, conf_b[5] = {0.15, 0.3, 0.5, 0.7, 0.9};
    const double acc_a[5] = {0.25, 0.3, 0.48, 0.75, 0.85}, conf_a[5] = {0.1, 0.3, 0.5, 0.7, 0.9};
    const size_t cnt_b[5] = {10, 20, 30, 20, 20}, cnt_a[5] = {5, 60, 20, 10, 5};
    fill_bins(before, acc_b, conf_b, cnt_b);
    fill_bins(after, acc_a, conf_a, cnt_a);
    ts_reliability_panel p[2] = {{"before: T = 1", before, 5, 0.18, false},
                                 {"after: T* = 1.5", after, 5, 0.05, true}};
    double ct[30], cn[30];
    for (int i = 0; i < 30; i++) {
        ct[i] = 0.5 * pow(6.0, i / 29.0);
        cn[i] = 2.0 + (log(ct[i]) - log(1.4)) * (log(ct[i]) - log(1.4));
    }
    ts_nll_curve c = {ct, cn, 30, 1.4, 2.0, 2.0 + log(1.4) * log(1.4)};
    char err[TS_ERR_SIZE];
    ts_plot_log_start(lg);
    ts_status st =
        ts_plot_reliability(out(name), p, 2, curve ? &c : NULL, "reliability", err, sizeof err);
    ts_plot_log_stop();
    assert_int_equal(st, TS_OK);
    check_layout(lg, name);
}

/* The legend covered bars in the "after" panel: it must overlap no bar, gap or axes. */
static void test_reliability_legend_off_data(void **state)
{
    (void)state;
    ts_plot_log log;
    draw_reliability(&log, "rel.svg", false);
    const ts_plot_item *leg = NULL;
    for (size_t i = 0; i < log.n; i++)
        if (!strcmp(log.items[i].role, "legend")) leg = &log.items[i];
    assert_non_null(leg);
    size_t checked = 0;
    for (size_t i = 0; i < log.n; i++) {
        const ts_plot_item *it = &log.items[i];
        if (strcmp(it->role, "bar") && strcmp(it->role, "gap-over") &&
            strcmp(it->role, "gap-under") && strcmp(it->role, "axes") && strcmp(it->role, "hist"))
            continue;
        checked++;
        assert_false(boxes_overlap(leg, it, 0));
    }
    assert_true(checked >= 20);
    /* With the NLL panel too, its own legend keeps off the curve's markers. */
    ts_plot_log log2;
    draw_reliability(&log2, "rel_nll.png", true);
    const ts_plot_item *first_leg = find(&log2, "legend", NULL);
    assert_non_null(first_leg);
    for (size_t i = 0; i < log2.n; i++)
        if (!strcmp(log2.items[i].role, "nll-point"))
            assert_false(boxes_overlap(first_leg, &log2.items[i], 0));
    ts_plot_log_free(&log);
    ts_plot_log_free(&log2);
}

/* Under-confidence gaps used a colour the legend did not list: every gap's colour is a
 * legend key's, and the over- and under-confident ones differ. */
static void test_reliability_gap_colors(void **state)
{
    (void)state;
    ts_plot_log log;
    draw_reliability(&log, "gaps.svg", false);
    assert_true(count(&log, "gap-over") >= 3);
    assert_true(count(&log, "gap-under") >= 2);
    const ts_plot_item *over = find(&log, "gap-over", NULL), *under = find(&log, "gap-under", NULL);
    assert_true(color_dist(over, under) > 0.2);
    for (size_t i = 0; i < log.n; i++) {
        const ts_plot_item *it = &log.items[i];
        if (strcmp(it->role, "gap-over") && strcmp(it->role, "gap-under") &&
            strcmp(it->role, "bar"))
            continue;
        bool listed = false;
        for (size_t j = 0; j < log.n && !listed; j++)
            listed = !strcmp(log.items[j].role, "legend-key") && same_color(it, &log.items[j]);
        if (!listed) print_error("%s (%s) has a colour the legend lacks\n", it->role, it->text);
        assert_true(listed);
    }
    assert_non_null(find(&log, "legend-key", "under-confident"));
    assert_non_null(find(&log, "legend-key", "over-confident"));
    ts_plot_log_free(&log);
}

/* The two confidence histograms had different y scales: one scale, so equal fractions
 * have equal heights (before: 20 of 100 rows in bin 1; after: 20 of 100 in bin 2). */
static void test_reliability_shared_histogram_scale(void **state)
{
    (void)state;
    ts_plot_log log;
    draw_reliability(&log, "hist.svg", false);
    const ts_plot_item *h[10];
    size_t n = 0;
    for (size_t i = 0; i < log.n && n < 10; i++)
        if (!strcmp(log.items[i].role, "hist")) h[n++] = &log.items[i];
    assert_int_equal(n, 10);
    /* bins in order: before 10,20,30,20,20 and after 5,60,20,10,5 (per 100 rows) */
    const double frac[10] = {.10, .20, .30, .20, .20, .05, .60, .20, .10, .05};
    double scale = h[0]->h / frac[0];
    for (size_t i = 1; i < 10; i++)
        assert_true(fabs(h[i]->h / frac[i] - scale) < 0.05 * scale);
    ts_plot_log_free(&log);
}

/* ---- the frontier and metrics figures (issue 13) ------------------------------ */

static ts_plot_value pv(double v, double half)
{
    return (ts_plot_value){v, v - half, v + half};
}

static void test_frontier(void **state)
{
    (void)state;
    const double T[6] = {0, 0.5, 0.8, 1, 1.5, INFINITY};
    ts_frontier_point a[6], b[6];
    for (int i = 0; i < 6; i++) {
        double s = isinf(T[i]) ? 1 : 1 - exp(-1.2 * T[i]);
        a[i] = (ts_frontier_point){T[i], pv(0.1 + 0.8 * s, 0.03), pv(1.5 + 5 * s * s, 0.2)};
        b[i] = (ts_frontier_point){T[i], pv(0.1 + 0.7 * s, 0.03), pv(1.5 + 3 * s * s, 0.2)};
    }
    b[2].x.value = NAN; /* not measured: skipped */
    ts_frontier_curve c[2] = {{"no truncation", a, 6}, {"top-p 0.9", b, 6}};
    char err[TS_ERR_SIZE];
    ts_plot_log log;
    ts_plot_log_start(&log);
    assert_int_equal(
        ts_plot_frontier(out("front.png"), c, 2, NULL, NULL, "frontier", err, sizeof err), TS_OK);
    ts_plot_log_stop();
    assert_file_starts(out("front.png"), PNG_MAGIC, 8);
    check_layout(&log, "front.png");
    assert_int_equal(count(&log, "point"), 11);
    /* whiskers on both axes for every point */
    assert_int_equal(count(&log, "whisker"), 22);
    assert_non_null(find_exact(&log, "point-label", "T = 0.5"));
    assert_non_null(find_exact(&log, "point-label", "T = \u221e"));
    assert_non_null(find_exact(&log, "point-label", "T = 1"));
    /* T = 0 is the same greedy text for both curves: labelled once */
    size_t zeros = 0;
    for (size_t i = 0; i < log.n; i++)
        zeros += !strcmp(log.items[i].role, "point-label") && !strcmp(log.items[i].text, "T = 0");
    assert_int_equal(zeros, 1);
    assert_non_null(find_exact(&log, "legend-key", "no truncation"));
    assert_non_null(find_exact(&log, "legend-key", "top-p 0.9"));
    assert_non_null(find(&log, "xlabel", "distinct-2"));
    assert_non_null(find(&log, "ylabel", "NLL under T = 1"));
    /* labels sit off the markers */
    for (size_t i = 0; i < log.n; i++) {
        if (strcmp(log.items[i].role, "point-label")) continue;
        for (size_t j = 0; j < log.n; j++)
            if (!strcmp(log.items[j].role, "point"))
                assert_false(boxes_overlap(&log.items[i], &log.items[j], 0.5));
    }
    /* a legend inside the axes covers no point */
    const ts_plot_item *leg = find(&log, "legend", NULL);
    for (size_t j = 0; j < log.n; j++)
        if (!strcmp(log.items[j].role, "point")) assert_false(boxes_overlap(leg, &log.items[j], 0));
    ts_plot_log_free(&log);

    /* SVG, one unnamed curve (no legend), self-BLEU on x */
    ts_frontier_curve one = {NULL, a, 6};
    ts_plot_log_start(&log);
    assert_int_equal(
        ts_plot_frontier(out("front.svg"), &one, 1, "self-BLEU-4", NULL, NULL, err, sizeof err),
        TS_OK);
    ts_plot_log_stop();
    assert_file_starts(out("front.svg"), "<?xml", 5);
    assert_int_equal(count(&log, "legend"), 0);
    assert_non_null(find_exact(&log, "xlabel", "self-BLEU-4"));
    check_layout(&log, "front.svg");
    ts_plot_log_free(&log);

    /* errors leave no file */
    int before = count_files();
    ts_frontier_curve empty = {"x", a, 0};
    assert_int_equal(ts_plot_frontier(out("e.png"), &empty, 1, NULL, NULL, NULL, err, sizeof err),
                     TS_ERR_INVALID);
    assert_non_null(strstr(err, "e.png"));
    a[0].temperature = -1;
    assert_int_equal(ts_plot_frontier(out("e.png"), c, 2, NULL, NULL, NULL, err, sizeof err),
                     TS_ERR_INVALID);
    assert_int_equal(count_files(), before);
}

static void test_metrics(void **state)
{
    (void)state;
    const double T[5] = {1, 0, 0.5, 2, INFINITY}; /* any order */
    ts_plot_value v[3][2 * 5];
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 5; i++) {
            double x = isinf(T[i]) ? 1 : T[i] / (1 + T[i]);
            v[0][s * 5 + i] = pv(x * (s ? 0.8 : 1), 0.03);
            v[1][s * 5 + i] = pv(1 - x, 0.05);
            v[2][s * 5 + i] = pv(2 + 4 * x, 0.1);
        }
    v[2][3].value = NAN; /* one value missing */
    ts_metric_panel panels[3] = {{"distinct-2", NULL, v[0], true},
                                 {"self-BLEU-4", NULL, v[1], true},
                                 {"NLL under T = 1", "nats / token", v[2], false}};
    const char *series[2] = {"no truncation", "top-p 0.9"};
    ts_metrics_figure f = {T, 5, series, 2, panels, 3, "metrics"};
    char err[TS_ERR_SIZE];
    ts_plot_log log;
    ts_plot_log_start(&log);
    assert_int_equal(ts_plot_metrics(out("metrics.pdf"), &f, err, sizeof err), TS_OK);
    ts_plot_log_stop();
    assert_file_starts(out("metrics.pdf"), "%PDF-", 5);
    check_layout(&log, "metrics.pdf");
    assert_non_null(find_exact(&log, "axes", "distinct-2"));
    assert_non_null(find_exact(&log, "axes", "self-BLEU-4"));
    assert_non_null(find_exact(&log, "axes", "NLL under T = 1"));
    /* bands over the finite T (0.5, 1, 2) per series per panel */
    assert_int_equal(count(&log, "band"), 6);
    assert_int_equal(count(&log, "point"), 2 * 5 * 3 - 1);
    assert_int_equal(count(&log, "legend-key"), 2);
    /* T = 0 and inf in the end slots of each panel */
    size_t zeros = 0, infs = 0;
    for (size_t i = 0; i < log.n; i++) {
        zeros += !strcmp(log.items[i].role, "xtick") && !strcmp(log.items[i].text, "0");
        infs += !strcmp(log.items[i].role, "xtick") && !strcmp(log.items[i].text, "\u221e");
    }
    assert_int_equal(zeros, 3);
    assert_int_equal(infs, 3);
    /* error: labels missing for two series */
    f.series = NULL;
    assert_int_equal(ts_plot_metrics(out("m2.png"), &f, err, sizeof err), TS_ERR_INVALID);
    assert_int_equal(access(out("m2.png"), F_OK), -1);
    ts_plot_log_free(&log);
}

/* ---- divergence, trace, map (issue 13) ---------------------------------------- */

static void test_divergence(void **state)
{
    (void)state;
    const double T[4] = {0, 0.5, 1, 2};
    enum { NK = 30 };
    double s[4 * NK], lo[4 * NK], hi[4 * NK];
    for (int t = 0; t < 4; t++)
        for (int k = 1; k <= NK; k++) {
            double v = exp(-0.04 * T[t] * T[t] * k * 3);
            s[t * NK + k - 1] = v;
            lo[t * NK + k - 1] = fmax(0, v - 0.05);
            hi[t * NK + k - 1] = fmin(1, v + 0.05);
        }
    ts_divergence_figure f = {T, 4, NK, s, lo, hi, 64, "divergence"};
    char err[TS_ERR_SIZE];
    ts_plot_log log;
    ts_plot_log_start(&log);
    assert_int_equal(ts_plot_divergence(out("div.svg"), &f, err, sizeof err), TS_OK);
    ts_plot_log_stop();
    assert_file_starts(out("div.svg"), "<?xml", 5);
    check_layout(&log, "div.svg");
    assert_int_equal(count(&log, "curve"), 4);
    assert_int_equal(count(&log, "band"), 4);
    assert_int_equal(count(&log, "legend-key"), 4);
    assert_non_null(find(&log, "text", "64 samples per temperature"));
    const ts_plot_item *c1 = find_exact(&log, "curve", "T = 1");
    ts_rgb one = ts_plot_t1_color();
    assert_true(fabs(c1->r - one.r) + fabs(c1->g - one.g) + fabs(c1->b - one.b) < 1e-9);
    /* T = 0 stays at 1: its curve is a flat line at the top */
    const ts_plot_item *c0 = find_exact(&log, "curve", "T = 0");
    assert_true(c0->h < 5);
    /* bad share, one-sided interval */
    s[3] = 1.5;
    assert_int_equal(ts_plot_divergence(out("d2.png"), &f, err, sizeof err), TS_ERR_INVALID);
    assert_non_null(strstr(err, "share[3]"));
    s[3] = 0.5;
    f.share_hi = NULL;
    assert_int_equal(ts_plot_divergence(out("d2.png"), &f, err, sizeof err), TS_ERR_INVALID);
    assert_int_equal(access(out("d2.png"), F_OK), -1);
    ts_plot_log_free(&log);
}

static void test_trace(void **state)
{
    (void)state;
    const char *words[6] = {"ROMEO", ":", "\n", " But", " soft", ","};
    enum { N = 40, LONG = 900 };
    ts_trace_token tok[LONG];
    for (int i = 0; i < LONG; i++)
        tok[i] = (ts_trace_token){words[i % 6], 1 + 7 * fabs(sin(i * 1.3)), 2 + fabs(cos(i * 0.7)),
                                  1.5 + fabs(cos(i * 0.7)) / 2,
                                  i % 6 == 0   ? 1
                                  : i % 6 == 1 ? 3
                                               : 500};
    char err[TS_ERR_SIZE];
    ts_plot_log log;
    ts_plot_log_start(&log);
    assert_int_equal(ts_plot_trace(out("trace.png"), tok, N, 0.7, "trace", err, sizeof err), TS_OK);
    ts_plot_log_stop();
    assert_file_starts(out("trace.png"), PNG_MAGIC, 8);
    check_layout(&log, "trace.png");
    assert_int_equal(count(&log, "bar"), N);
    assert_int_equal(count(&log, "token"), N);
    assert_non_null(find_exact(&log, "token", "\u00b7But")); /* spaces as dots */
    assert_non_null(find_exact(&log, "token", "\u21b5"));    /* newline as a return arrow */
    /* shaded by rank: rank 1, 2-5 and > 100 bars have three different colours */
    const ts_plot_item *r1 = find_exact(&log, "bar", "rank 1");
    const ts_plot_item *r3 = find(&log, "bar", "rank 2");
    const ts_plot_item *r500 = find_exact(&log, "bar", "rank > 100");
    assert_true(color_dist(r1, r3) > 0.1 && color_dist(r3, r500) > 0.1);
    assert_non_null(find(&log, "legend-label", "entropy at T = 0.7"));
    /* surprisal is the bar's height: token 1 (7.34 nats) taller than token 0 (1 nat) */
    ts_plot_log_free(&log);

    /* 130 tokens: balanced rows (3 x 44 at most), every token labelled */
    ts_plot_log_start(&log);
    assert_int_equal(ts_plot_trace(out("trace2.svg"), tok, 130, 0.7, NULL, err, sizeof err), TS_OK);
    ts_plot_log_stop();
    check_layout(&log, "trace2.svg");
    assert_int_equal(count(&log, "token"), 130);
    assert_non_null(find(&log, "text", "tokens 0\u201343"));
    ts_plot_log_free(&log);

    /* a long text: one panel, no token labels, position ticks, smoothed entropy */
    ts_plot_log_start(&log);
    assert_int_equal(ts_plot_trace(out("trace3.svg"), tok, LONG, 0.7, NULL, err, sizeof err),
                     TS_OK);
    ts_plot_log_stop();
    check_layout(&log, "trace3.svg");
    assert_int_equal(count(&log, "token"), 0);
    assert_int_equal(count(&log, "bar"), LONG);
    assert_non_null(find_exact(&log, "xlabel", "token position"));
    assert_non_null(find(&log, "legend-label", "mean over"));
    ts_plot_log_free(&log);

    tok[5].rank = 0;
    assert_int_equal(ts_plot_trace(out("t4.png"), tok, N, 0.7, NULL, err, sizeof err),
                     TS_ERR_INVALID);
    assert_non_null(strstr(err, "token 5"));
    assert_int_equal(access(out("t4.png"), F_OK), -1);
}

static void test_truncation_map(void **state)
{
    (void)state;
    const double T[5] = {0.25, 0.5, 1, 2, 4};
    const double P[4] = {0.5, 0.9, 0.95, 1.0};
    double hf[20], ll[20];
    for (int p = 0; p < 4; p++)
        for (int t = 0; t < 5; t++) {
            hf[p * 5 + t] = log(1 + T[t] * 10 * P[p]);
            ll[p * 5 + t] = p == 3 ? hf[p * 5 + t] : log(1 + 10 * P[p]) * fmin(T[t], 1);
        }
    ts_map_figure f = {T, 5, P, 4, "top-p", hf, ll, "entropy (nats)", false, "map"};
    char err[TS_ERR_SIZE];
    ts_plot_log log;
    ts_plot_log_start(&log);
    assert_int_equal(ts_plot_truncation_map(out("map.png"), &f, err, sizeof err), TS_OK);
    ts_plot_log_stop();
    assert_file_starts(out("map.png"), PNG_MAGIC, 8);
    check_layout(&log, "map.png");
    assert_int_equal(count(&log, "cell-hf"), 20);
    assert_int_equal(count(&log, "cell-llama"), 20);
    assert_int_equal(count(&log, "cell-diff"), 20);
    assert_int_equal(count(&log, "colorbar"), 2);
    assert_non_null(find_exact(&log, "colorbar", "entropy (nats)"));
    assert_non_null(find(&log, "colorbar", "entropy (nats)"));
    assert_non_null(find(&log, "axes", "HF order"));
    assert_non_null(find(&log, "axes", "llama.cpp order"));
    /* one colour scale: the top-p = 1 row is equal in both orders, so equal colours */
    for (int t = 0; t < 5; t++) {
        const ts_plot_item *a = NULL, *b = NULL;
        size_t ia = 0, ib = 0;
        for (size_t i = 0; i < log.n; i++) {
            if (!strcmp(log.items[i].role, "cell-hf") && ia++ == (size_t)(15 + t))
                a = &log.items[i];
            if (!strcmp(log.items[i].role, "cell-llama") && ib++ == (size_t)(15 + t))
                b = &log.items[i];
        }
        assert_non_null(a);
        assert_non_null(b);
        assert_true(same_color(a, b));
    }
    /* the difference of equal cells is the diverging scale's white middle */
    const ts_plot_item *d0 = NULL;
    size_t id = 0;
    for (size_t i = 0; i < log.n; i++)
        if (!strcmp(log.items[i].role, "cell-diff") && id++ == 15) d0 = &log.items[i];
    ts_rgb mid = ts_plot_cmap(TS_CMAP_RDBU, 0.5);
    assert_true(fabs(d0->r - mid.r) + fabs(d0->g - mid.g) + fabs(d0->b - mid.b) < 1e-9);
    assert_string_equal(d0->text, "0");
    /* every grid value ticked */
    assert_non_null(find_exact(&log, "ytick", "0.95"));
    assert_non_null(find_exact(&log, "xtick", "0.25"));
    ts_plot_log_free(&log);

    /* unsorted or non-positive grids are refused, naming the path */
    const double bad_t[5] = {0.25, 0.5, 0.5, 2, 4};
    f.temperatures = bad_t;
    assert_int_equal(ts_plot_truncation_map(out("m.svg"), &f, err, sizeof err), TS_ERR_INVALID);
    assert_non_null(strstr(err, "m.svg"));
    f.temperatures = T;
    const double bad_p[4] = {0.5, 0.9, 0.8, 1};
    f.params = bad_p;
    assert_int_equal(ts_plot_truncation_map(out("m.svg"), &f, err, sizeof err), TS_ERR_INVALID);
    assert_non_null(strstr(err, "top-p"));
    assert_int_equal(access(out("m.svg"), F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_check_can_fail),
        cmocka_unit_test(test_sweep_full_prob),
        cmocka_unit_test(test_sweep_zero_and_inf),
        cmocka_unit_test(test_sweep_many_temperatures),
        cmocka_unit_test(test_sweep_log_ticks),
        cmocka_unit_test(test_sweep_target),
        cmocka_unit_test(test_sweep_errors),
        cmocka_unit_test(test_softmax_default_labels),
        cmocka_unit_test(test_softmax_entropy_digits),
        cmocka_unit_test(test_reliability_legend_off_data),
        cmocka_unit_test(test_reliability_gap_colors),
        cmocka_unit_test(test_reliability_shared_histogram_scale),
        cmocka_unit_test(test_frontier),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_divergence),
        cmocka_unit_test(test_trace),
        cmocka_unit_test(test_truncation_map),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * test_plot_core.c — the plot core (src/plot/plot.c, plot_axes.c,
 * plot_style.c): canvas, formats, atomic output, axes mapping with the
 * T = 0 / inf end slots, tick choice, number formats, visible token text,
 * temperature colours, legend layout and placement, and the softmax figure's
 * argument checks. What each figure draws is checked in test_plot_figures.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "internal.h"

#include <dirent.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ts_plot_core_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

/* Files in dir (to spot leftover temp files). */
static int count_files(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
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

static size_t read_head(const char *path, unsigned char *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    return got;
}

static void draw_something(ts_plot *pl)
{
    cairo_t *cr = ts_plot_cairo(pl);
    ts_axes ax = {.x = 50,
                  .y = 30,
                  .w = 200,
                  .h = 120,
                  .xmin = 1e-3,
                  .xmax = 10,
                  .ymin = 0,
                  .ymax = 1,
                  .xlog = true};
    ts_axes_frame(cr, &ax, "title", "x", "y");
    ts_plot_color(cr, 0, 1.0);
    cairo_move_to(cr, ts_axes_px(&ax, 1e-3), ts_axes_py(&ax, 0));
    cairo_line_to(cr, ts_axes_px(&ax, 10), ts_axes_py(&ax, 1));
    cairo_stroke(cr);
    const char *labels[2] = {"one", "two"};
    ts_plot_legend(cr, 60, 40, labels, NULL, 2);
}

static void test_formats(void **state)
{
    (void)state;
    char path[512], err[TS_ERR_SIZE];
    ts_plot *pl;
    unsigned char head[32];

    snprintf(path, sizeof path, "%s/a.png", dir);
    assert_int_equal(ts_plot_begin(path, 300, 200, &pl, err, sizeof err), TS_OK);
    draw_something(pl);
    assert_int_equal(ts_plot_end(pl, err, sizeof err), TS_OK);
    assert_int_equal(read_head(path, head, 24), 24);
    assert_memory_equal(head, "\x89PNG\r\n\x1a\n", 8);
    /* IHDR width / height, big-endian at offsets 16 and 20: 2x the points. */
    unsigned w = (unsigned)head[16] << 24 | head[17] << 16 | head[18] << 8 | head[19];
    unsigned h = (unsigned)head[20] << 24 | head[21] << 16 | head[22] << 8 | head[23];
    assert_int_equal(w, 600);
    assert_int_equal(h, 400);

    snprintf(path, sizeof path, "%s/b.SVG", dir);
    assert_int_equal(ts_plot_begin(path, 300, 200, &pl, err, sizeof err), TS_OK);
    draw_something(pl);
    assert_int_equal(ts_plot_end(pl, err, sizeof err), TS_OK);
    assert_true(read_head(path, head, 5) == 5 && memcmp(head, "<?xml", 5) == 0);

    snprintf(path, sizeof path, "%s/c.pdf", dir);
    assert_int_equal(ts_plot_begin(path, 300, 200, &pl, err, sizeof err), TS_OK);
    draw_something(pl);
    assert_int_equal(ts_plot_end(pl, err, sizeof err), TS_OK);
    assert_true(read_head(path, head, 5) == 5 && memcmp(head, "%PDF-", 5) == 0);
    assert_int_equal(count_files(), 3); /* no temp files left */
}

static void test_failures_leave_nothing(void **state)
{
    (void)state;
    char path[512], err[TS_ERR_SIZE];
    ts_plot *pl = (ts_plot *)0x1;
    snprintf(path, sizeof path, "%s/x.jpg", dir);
    assert_int_equal(ts_plot_begin(path, 300, 200, &pl, err, sizeof err), TS_ERR_INVALID);
    assert_null(pl);
    assert_non_null(strstr(err, "x.jpg"));
    assert_int_equal(ts_plot_begin("/nonexistent/x.png", 300, 200, &pl, err, sizeof err),
                     TS_ERR_IO);
    assert_non_null(strstr(err, "/nonexistent/x.png"));
    assert_int_equal(access("/nonexistent/x.png", F_OK), -1);
    snprintf(path, sizeof path, "%s/y.png", dir);
    assert_int_equal(ts_plot_begin(path, 0, 200, &pl, err, sizeof err), TS_ERR_INVALID);
    int before = count_files();
    assert_int_equal(ts_plot_begin(path, 300, 200, &pl, err, sizeof err), TS_OK);
    assert_int_equal(count_files(), before + 1); /* the temp file */
    draw_something(pl);
    ts_plot_abort(pl);
    ts_plot_abort(NULL);
    assert_int_equal(count_files(), before);
    assert_int_equal(access(path, F_OK), -1);
}

static void test_axes_mapping(void **state)
{
    (void)state;
    ts_axes a = {.x = 10, .y = 20, .w = 100, .h = 50, .xmin = 0, .xmax = 2, .ymin = -1, .ymax = 1};
    assert_true(fabs(ts_axes_px(&a, 0) - 10) < 1e-12);
    assert_true(fabs(ts_axes_px(&a, 1) - 60) < 1e-12);
    assert_true(fabs(ts_axes_py(&a, -1) - 70) < 1e-12); /* y grows downwards */
    assert_true(fabs(ts_axes_py(&a, 1) - 20) < 1e-12);
    a.xlog = true;
    a.xmin = 0.01;
    a.xmax = 100;
    assert_true(fabs(ts_axes_px(&a, 1) - 60) < 1e-12);
    assert_true(fabs(ts_axes_px(&a, 0.1) - 35) < 1e-12);
}

static void test_softmax_figure(void **state)
{
    (void)state;
    char path[512], err[TS_ERR_SIZE];
    const float z[5] = {2, 1, 0.5f, 0.2f, 0.1f};
    const double t[5] = {0.1, 0.5, 1, 2, 5};
    snprintf(path, sizeof path, "%s/softmax.png", dir);
    int before = count_files();
    assert_int_equal(ts_plot_softmax_panels(path, z, 5, NULL, t, 5, NULL, err, sizeof err), TS_OK);
    assert_int_equal(count_files(), before + 1);
    unlink(path);
    const double bad[2] = {1, -1};
    assert_int_equal(ts_plot_softmax_panels(path, z, 5, NULL, bad, 2, NULL, err, sizeof err),
                     TS_ERR_INVALID);
    assert_non_null(strstr(err, "temperature"));
    const float nanz[2] = {1, NAN};
    assert_int_equal(ts_plot_softmax_panels(path, nanz, 2, NULL, t, 1, NULL, err, sizeof err),
                     TS_ERR_INVALID);
    assert_int_equal(ts_plot_softmax_panels(path, z, 0, NULL, t, 1, NULL, err, sizeof err),
                     TS_ERR_RANGE);
    assert_int_equal(
        ts_plot_softmax_panels("/nonexistent/s.svg", z, 5, NULL, t, 5, NULL, err, sizeof err),
        TS_ERR_IO);
    assert_int_equal(count_files(), before);
}

static void test_format_sig(void **state)
{
    (void)state;
    char b[32];
    const struct {
        double v;
        int sig;
        const char *want;
    } cases[] = {
        {0.0005, 3, "0.0005"},   {0.000512345, 3, "0.000512"},
        {12.345, 3, "12.3"},     {9.9951, 3, "10"},
        {1.0, 3, "1"},           {0.1, 3, "0.1"},
        {-0.25, 2, "-0.25"},     {0, 3, "0"},
        {1234567, 3, "1234567"}, {1.5e-7, 3, "1.5e-07"},
        {NAN, 3, "n/a"},         {-1e-300 * 1e-300, 3, "0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ts_plot_format_sig(b, sizeof b, cases[i].v, cases[i].sig);
        if (strcmp(b, cases[i].want)) print_error("%g -> '%s'\n", cases[i].v, b);
        assert_string_equal(b, cases[i].want);
    }
    ts_plot_format_temperature(b, sizeof b, 0);
    assert_string_equal(b, "0");
    ts_plot_format_temperature(b, sizeof b, INFINITY);
    assert_string_equal(b, "\u221e");
    ts_plot_format_temperature(b, sizeof b, 0.7);
    assert_string_equal(b, "0.7");
}

static void test_visible_text(void **state)
{
    (void)state;
    char b[64];
    ts_plot_visible_text(" the\n", true, 0, b, sizeof b);
    assert_string_equal(b, "\u00b7the\u21b5");
    ts_plot_visible_text(" the\t", false, 0, b, sizeof b);
    assert_string_equal(b, " the\u2192");
    ts_plot_visible_text("\x01x", false, 0, b, sizeof b);
    assert_string_equal(b, "\ufffdx");
    /* cut to 4 code points, the last an ellipsis; multi-byte sequences kept whole */
    ts_plot_visible_text("h\u00e9llo world", false, 4, b, sizeof b);
    assert_string_equal(b, "h\u00e9l\u2026");
    ts_plot_visible_text("abc", false, 3, b, sizeof b);
    assert_string_equal(b, "abc");
    ts_plot_visible_text(NULL, false, 0, b, sizeof b);
    assert_string_equal(b, "");
    char tiny[4];
    ts_plot_visible_text("\u00e9\u00e9", false, 0, tiny, sizeof tiny); /* room for one */
    assert_string_equal(tiny, "\u00e9");
}

static void test_axes_end_slots(void **state)
{
    (void)state;
    ts_axes a = {.x = 100,
                 .y = 0,
                 .w = 260,
                 .h = 100,
                 .xmin = 0.1,
                 .xmax = 10,
                 .xlog = true,
                 .x_zero_end = true,
                 .x_inf_end = true};
    const double s = TS_AXES_END_SLOT;
    assert_true(fabs(ts_axes_px(&a, 0) - (100 + s / 2)) < 1e-12);
    assert_true(fabs(ts_axes_px(&a, INFINITY) - (360 - s / 2)) < 1e-12);
    assert_true(fabs(ts_axes_px(&a, 0.1) - (100 + s)) < 1e-12);
    assert_true(fabs(ts_axes_px(&a, 10) - (360 - s)) < 1e-12);
    assert_true(fabs(ts_axes_px(&a, 1) - (100 + s + (260 - 2 * s) / 2)) < 1e-12);
}

static void test_ticks(void **state)
{
    (void)state;
    cairo_t *cr = ts_plot_scratch();
    double t[64];
    /* a wide log axis over two decades: 1, 2 and 5 of each */
    ts_axes a = {.x = 0,
                 .y = 0,
                 .w = 400,
                 .h = 300,
                 .xmin = 0.1,
                 .xmax = 10,
                 .xlog = true,
                 .ymin = 0,
                 .ymax = 1};
    size_t n = ts_axes_ticks(cr, &a, 'x', t, 64);
    const double want[7] = {0.1, 0.2, 0.5, 1, 2, 5, 10};
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++)
        assert_true(fabs(t[i] - want[i]) < 1e-12);
    /* a narrow one over six decades: decades only, no crowding */
    a.w = 150;
    a.xmin = 1e-3;
    a.xmax = 1e3;
    n = ts_axes_ticks(cr, &a, 'x', t, 64);
    assert_true(n >= 3 && n <= 7);
    for (size_t i = 0; i < n; i++)
        assert_true(fabs(log10(t[i]) - round(log10(t[i]))) < 1e-9);
    /* less than a decade: still at least two labels */
    a.w = 300;
    a.xmin = 1.2;
    a.xmax = 1.8;
    n = ts_axes_ticks(cr, &a, 'x', t, 64);
    assert_true(n >= 2);
    /* integer axis (ranks): whole numbers only */
    ts_axes r = {.x = 0,
                 .y = 0,
                 .w = 400,
                 .h = 100,
                 .xmin = 0.5,
                 .xmax = 3.5,
                 .x_integer = true,
                 .ymin = 0,
                 .ymax = 1};
    n = ts_axes_ticks(cr, &r, 'x', t, 64);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_true(t[i] == (double)(i + 1));
    cairo_destroy(cr);
}

static void test_temperature_colors(void **state)
{
    (void)state;
    double t[16];
    ts_rgb c[16];
    for (int i = 0; i < 16; i++)
        t[i] = 0.1 * (i + 1);
    t[9] = 1.0; /* 0.1 * 10 already, made exact */
    ts_plot_temperature_colors(t, 16, c);
    ts_rgb one = ts_plot_t1_color();
    assert_true(c[9].r == one.r && c[9].g == one.g && c[9].b == one.b);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < i; j++)
            assert_true(fabs(c[i].r - c[j].r) + fabs(c[i].g - c[j].g) + fabs(c[i].b - c[j].b) >
                        0.02);
    /* order-independent: the same set shuffled gives each T the same colour */
    double s[4] = {INFINITY, 0.5, 0, 2}, u[4] = {0, 0.5, 2, INFINITY};
    ts_rgb cs[4], cu[4];
    ts_plot_temperature_colors(s, 4, cs);
    ts_plot_temperature_colors(u, 4, cu);
    assert_true(cs[0].r == cu[3].r && cs[2].b == cu[0].b && cs[3].g == cu[2].g);
    /* equal temperatures, equal colours */
    double d[3] = {0.5, 2, 0.5};
    ts_rgb cd[3];
    ts_plot_temperature_colors(d, 3, cd);
    assert_true(cd[0].r == cd[2].r && cd[0].g == cd[2].g && cd[0].b == cd[2].b);
    /* colormap ends */
    ts_rgb v0 = ts_plot_cmap(TS_CMAP_VIRIDIS, 0), v1 = ts_plot_cmap(TS_CMAP_VIRIDIS, 2);
    assert_true(fabs(v0.r - 0x44 / 255.0) < 1e-9 && fabs(v1.g - 0xe7 / 255.0) < 1e-9);
}

static void test_legend_layout(void **state)
{
    (void)state;
    cairo_t *cr = ts_plot_scratch();
    ts_legend_entry e[20];
    char lab[20][16];
    for (int i = 0; i < 20; i++) {
        snprintf(lab[i], sizeof lab[i], "T = %d", i);
        e[i] = (ts_legend_entry){lab[i], ts_plot_palette(i), TS_KEY_LINE, 1, 0};
    }
    ts_legend_layout one, wide, capped;
    ts_legend_measure(cr, e, 20, NULL, 0, 0, &one);
    assert_int_equal(one.cols, 1);
    assert_int_equal(one.rows, 20);
    ts_legend_measure(cr, e, 20, "temperature", 800, 0, &wide);
    assert_true(wide.cols > 1 && wide.w <= 800);
    assert_int_equal(wide.rows, (20 + wide.cols - 1) / wide.cols);
    assert_true(wide.cols * wide.rows >= 20);
    ts_legend_measure(cr, e, 20, NULL, 0, 6, &capped);
    assert_true(capped.rows <= 6);
    assert_int_equal(capped.cols, 4); /* 20 in rows of at most 6: 4 columns of 5 */
    cairo_destroy(cr);
}

static void test_best_spot(void **state)
{
    (void)state;
    ts_axes a = {.x = 0, .y = 0, .w = 400, .h = 300};
    /* points fill the top right and the top left: the legend goes to the bottom right */
    double px[4] = {380, 350, 20, 50}, py[4] = {20, 30, 20, 40};
    double x, y;
    assert_int_equal(ts_plot_best_spot(&a, 100, 60, px, py, 4, &x, &y), 0);
    assert_true(x > 200 && y > 150);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_failures_leave_nothing),
        cmocka_unit_test(test_axes_mapping),
        cmocka_unit_test(test_softmax_figure),
        cmocka_unit_test(test_format_sig),
        cmocka_unit_test(test_visible_text),
        cmocka_unit_test(test_axes_end_slots),
        cmocka_unit_test(test_ticks),
        cmocka_unit_test(test_temperature_colors),
        cmocka_unit_test(test_legend_layout),
        cmocka_unit_test(test_best_spot),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * test_plot_core.c — src/plot/plot.c (canvas, formats, atomic output, axes
 * mapping) and the softmax figure's argument checks. What the figures look
 * like is checked by eye (docs/sampling.md describes the picture); here we
 * check that files are complete, in the right format and size, and that a
 * failure leaves nothing behind.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_failures_leave_nothing),
        cmocka_unit_test(test_axes_mapping),
        cmocka_unit_test(test_softmax_figure),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

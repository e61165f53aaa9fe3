/*
 * test_npy.c — the .npy reader against files written by numpy 1.24
 * (tools/calib_oracle.py --npy-fixtures): dtypes f2/f4/f8, both byte orders,
 * Fortran order, format versions 1.0/2.0/3.0, label dtypes, and malformed
 * files; the writer byte for byte against np.save's output. Values are exact
 * (every fixture value is representable in float16), so tolerance is 0.
 */
#include "internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

static char path_buf[4096];

static const char *data_path(const char *name)
{
    const char *dir = getenv("TS_TEST_DATA");
    snprintf(path_buf, sizeof path_buf, "%s/%s", dir ? dir : "tests/data", name);
    return path_buf;
}

/* Every float fixture holds A[i][j] = (4 i + j) * 0.5 - 1, shape (3, 4). */
static void check_matrix(const char *name)
{
    float *data = NULL;
    int32_t ndim = 0;
    size_t shape[TS_NPY_MAX_DIM];
    char err[TS_ERR_SIZE] = "";
    ts_status st = ts_npy_read_f32(data_path(name), &data, &ndim, shape, err, sizeof err);
    if (st != TS_OK) fail_msg("%s: %s", name, err);
    assert_int_equal(ndim, 2);
    assert_int_equal(shape[0], 3);
    assert_int_equal(shape[1], 4);
    for (int i = 0; i < 12; i++)
        if (data[i] != (float)(i * 0.5 - 1.0)) fail_msg("%s: element %d = %g", name, i, data[i]);
    free(data);
}

static void test_float_variants(void **state)
{
    (void)state;
    check_matrix("calib_npy_f4.npy");
    check_matrix("calib_npy_f8_fortran.npy");
    check_matrix("calib_npy_f4_be.npy");
    check_matrix("calib_npy_f2.npy");
    check_matrix("calib_npy_f4_v2.npy");
    check_matrix("calib_npy_f4_v3.npy");
}

static void check_labels(const char *name)
{
    int32_t *lab = NULL;
    size_t n = 0;
    char err[TS_ERR_SIZE] = "";
    ts_status st = ts_npy_read_labels(data_path(name), &lab, &n, err, sizeof err);
    if (st != TS_OK) fail_msg("%s: %s", name, err);
    assert_int_equal(n, 4);
    const int32_t want[4] = {0, 3, 2, 1};
    for (int i = 0; i < 4; i++) assert_int_equal(lab[i], want[i]);
    free(lab);
}

static void test_label_variants(void **state)
{
    (void)state;
    check_labels("calib_npy_lab_i8.npy");
    check_labels("calib_npy_lab_u1.npy");
    check_labels("calib_npy_lab_i4_be.npy");
    check_labels("calib_npy_lab_f4.npy");
}

/* A bad file must fail with the given status and a message naming the file and `needle`. */
static void expect_label_error(const char *name, ts_status want, const char *needle)
{
    int32_t *lab = NULL;
    size_t n = 0;
    char err[TS_ERR_SIZE] = "";
    ts_status st = ts_npy_read_labels(data_path(name), &lab, &n, err, sizeof err);
    assert_int_equal(st, want);
    assert_null(lab);
    if (!strstr(err, name) || !strstr(err, needle)) fail_msg("%s: message '%s'", name, err);
}

static void expect_f32_error(const char *name, ts_status want, const char *needle)
{
    float *data = NULL;
    int32_t ndim;
    size_t shape[TS_NPY_MAX_DIM];
    char err[TS_ERR_SIZE] = "";
    ts_status st = ts_npy_read_f32(data_path(name), &data, &ndim, shape, err, sizeof err);
    assert_int_equal(st, want);
    assert_null(data);
    if (!strstr(err, name) || !strstr(err, needle)) fail_msg("%s: message '%s'", name, err);
}

static void test_bad_files(void **state)
{
    (void)state;
    expect_label_error("calib_npy_lab_frac.npy", TS_ERR_FORMAT, "2.5");
    expect_label_error("calib_npy_lab_neg.npy", TS_ERR_FORMAT, "element 1");
    expect_label_error("calib_npy_lab_onehot.npy", TS_ERR_FORMAT, "one-hot");
    expect_f32_error("calib_npy_struct.npy", TS_ERR_UNSUPPORTED, "structured");
    expect_f32_error("calib_npy_truncated.npy", TS_ERR_FORMAT, "truncated");
    expect_f32_error("calib_npy_badmagic.npy", TS_ERR_FORMAT, "not a NumPy");
    expect_f32_error("calib_npy_lab_i8.npy", TS_ERR_FORMAT, "expected float");
    expect_f32_error("calib_npy_does_not_exist.npy", TS_ERR_IO, "No such file");
}

/* The writer must produce exactly the bytes np.save writes for the same array. */
static void test_writer_matches_numpy(void **state)
{
    (void)state;
    const float a[6] = {1.5f, -2.25f, 3.0f, 0.0f, 1e-3f, -7.0f};
    const size_t shape[2] = {2, 3};
    char out[4096];
    const char *tmpdir = getenv("TMPDIR");
    snprintf(out, sizeof out, "%s/test_npy_%d.npy", tmpdir ? tmpdir : "/tmp", (int)getpid());
    char err[TS_ERR_SIZE] = "";
    assert_int_equal(ts_npy_write_f32(out, a, 2, shape, err, sizeof err), TS_OK);
    char *mine, *ref;
    size_t n_mine, n_ref;
    assert_int_equal(ts_read_file(out, &mine, &n_mine, err, sizeof err), TS_OK);
    assert_int_equal(ts_read_file(data_path("calib_npy_ref_write.npy"), &ref, &n_ref, err,
                                  sizeof err),
                     TS_OK);
    assert_int_equal(n_mine, n_ref);
    assert_memory_equal(mine, ref, n_ref);
    /* And it reads back. */
    float *back;
    int32_t ndim;
    size_t sh[TS_NPY_MAX_DIM];
    assert_int_equal(ts_npy_read_f32(out, &back, &ndim, sh, err, sizeof err), TS_OK);
    assert_memory_equal(back, a, sizeof a);
    free(back);
    free(mine);
    free(ref);
    remove(out);
    /* 1-D and unwritable paths. */
    const size_t s1[1] = {6};
    snprintf(out, sizeof out, "/nonexistent-dir/x.npy");
    assert_int_equal(ts_npy_write_f32(out, a, 1, s1, err, sizeof err), TS_ERR_IO);
    assert_non_null(strstr(err, "/nonexistent-dir/x.npy"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_variants),
        cmocka_unit_test(test_label_variants),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_writer_matches_numpy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

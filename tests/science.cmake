# Measurements (issue 13) and deeper calibration (issues 12 §4, 13): bootstrap
# intervals, vector / matrix scaling, LM scoring, text measurements, trace and
# map, against tools/science_oracle.py.
ts_add_test(test_calib_bootstrap unit)
ts_add_test(test_lm_score model)
ts_add_test(test_calib_scaling unit)
ts_add_test(test_measure unit)
# test_measure counts allocations in ts_trace_token (called once per token of a text).
target_link_options(test_measure PRIVATE -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc)
ts_add_test(test_diversity_model model)

# Calibration (issue 6): .npy / CSV readers, temperature fit and metrics vs the
# scipy oracle (tools/calib_oracle.py), and the `tempscale calibrate` CLI.
ts_add_test(test_npy unit)
ts_add_test(test_calibrate unit)
ts_add_test(test_csv unit)
ts_add_test(test_cli_calibrate e2e)
ts_add_test(test_calibrate_lm unit)

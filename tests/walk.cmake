# The walkthrough (issue 5): generation loop, sweep, chi-square, Gumbel-max (unit);
# the top/generate/sample/sweep/compare/demo commands end to end on the bundled model.
ts_add_test(test_generate unit)

find_program(TS_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT TS_PYTHON3)
  find_program(TS_PYTHON3 python3)
endif()
if(TS_PYTHON3)
  ts_add_script_test(test_cli_walk e2e test_cli_walk.py ${TS_PYTHON3})
  # 77: the bundled model is not there (e.g. a source tree without models/).
  set_tests_properties(test_cli_walk PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
endif()

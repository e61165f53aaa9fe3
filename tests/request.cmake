# The request layer (issue 10): every analysis as request -> run -> result with
# one JSON for CLI / API / batch; `tempscale batch` end to end.
ts_add_test(test_request unit)
find_program(TS_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(TS_PYTHON3)
  ts_add_script_test(test_batch e2e test_batch.py ${TS_PYTHON3})
  set_tests_properties(test_batch PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900)
endif()

# Quality pass: what a user sees after `make install` (bundled model found
# relative to the executable, header + static library usable), and one-line
# errors with exit 2 for bad input across every command.
ts_add_script_test(test_install e2e test_install.sh bash)
find_program(TS_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(TS_PYTHON3)
  ts_add_script_test(test_cli_errors e2e test_cli_errors.py ${TS_PYTHON3})
  # 77: the bundled model is not there (e.g. a source tree without models/).
  set_tests_properties(test_cli_errors PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
# Every example of every --help runs (issue 12). Release build only: the examples
# include `tempscale bench` on a distilgpt2-sized checkpoint.
if(TS_PYTHON3 AND NOT TS_ASAN)
  ts_add_script_test(test_cli_examples e2e test_cli_examples.py ${TS_PYTHON3})
  set_tests_properties(test_cli_examples PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 1800)
endif()
# Inputs as people give them, and the CLI defects of issue 12 (each with the check
# that would have caught it).
if(TS_PYTHON3)
  ts_add_script_test(test_cli_inputs e2e test_cli_inputs.py ${TS_PYTHON3})
  set_tests_properties(test_cli_inputs PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
endif()

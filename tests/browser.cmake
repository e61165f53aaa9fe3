# The explorer page (issue 11, GET /) in a real browser: Debian's chromium
# driven by playwright-core (installed under tests/node) against
# `tempscale serve` on a free loopback port. Every number the page shows is
# compared with the CLI; explorer-700.png and explorer-1400.png (full page)
# are written into the build folder. Exits 77 (skipped) when chromium or
# playwright-core is missing, except with TS_REQUIRE_ALL=1 (.ci/run) or
# CI=true, where that is a failure (`make test-deps` installs them).
find_program(TS_NODE NAMES node nodejs)
if(TS_NODE)
  add_test(NAME test_explorer_browser
           COMMAND ${TS_NODE} ${CMAKE_SOURCE_DIR}/tests/browser/explorer.test.js)
  set_tests_properties(test_explorer_browser PROPERTIES
    LABELS e2e
    ENVIRONMENT "${TS_TEST_ENV};TS_BUILD_DIR=${CMAKE_BINARY_DIR}"
    SKIP_RETURN_CODE 77
    TIMEOUT 900)
else()
  # No node: skipped, or failed where every dependency is required.
  add_test(NAME test_explorer_browser
           COMMAND sh -c "echo 'node not found: make test-deps'; [ \"$TS_REQUIRE_ALL\" = 1 ] && exit 1; exit 77")
  set_tests_properties(test_explorer_browser PROPERTIES LABELS e2e SKIP_RETURN_CODE 77)
endif()

# `tempscale serve` (issue 11). Labels: unit (no network), e2e (the binary on
# 127.0.0.1, a port it picks), load (64 streams + slow loris + malformed
# requests; 60 s under ASan, 10 s in Release).
# Scripts exit 77 (skipped) when what they need is missing — the bundled model,
# node and tests/node/node_modules (`make test-deps`) — unless TS_REQUIRE_ALL=1
# (CI), which turns every such skip into a failure.
ts_add_test(test_server_route unit)
target_link_libraries(test_server_route PRIVATE tempscale_server)

find_program(TS_PYTHON3_SERVE NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(TS_PYTHON3_SERVE)
  ts_add_script_test(test_serve e2e test_serve.py ${TS_PYTHON3_SERVE})
  set_tests_properties(test_serve PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
  if(TS_ASAN)
    set(TS_LOAD_SECONDS 60)
  else()
    set(TS_LOAD_SECONDS 10)
  endif()
  ts_add_script_test(test_serve_load load test_serve_load.py ${TS_PYTHON3_SERVE})
  set_tests_properties(test_serve_load PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900
    RUN_SERIAL TRUE)
  set_property(TEST test_serve_load APPEND PROPERTY ENVIRONMENT
    "TS_LOAD_SECONDS=${TS_LOAD_SECONDS}" "TS_BUILD_DIR=${CMAKE_BINARY_DIR}")
endif()

# The official OpenAI client (npm "openai", tests/node/package-lock.json) against
# the server; node from Debian. tests/node/run.sh skips (77) without node or
# node_modules, and fails instead under TS_REQUIRE_ALL=1.
add_test(NAME test_openai_client COMMAND sh ${CMAKE_SOURCE_DIR}/tests/node/run.sh openai_client.mjs)
set_tests_properties(test_openai_client PROPERTIES LABELS e2e SKIP_RETURN_CODE 77 TIMEOUT 600
  ENVIRONMENT "${TS_TEST_ENV};TS_BUILD_DIR=${CMAKE_BINARY_DIR}")

# Hugging Face cache and `tempscale pull` against tests/hub_server.py on 127.0.0.1.
ts_add_test(test_hub e2e)
set_tests_properties(test_hub PROPERTIES TIMEOUT 150)
# The CLI's --model resolver is exercised directly (cli/model_path.c + helpers).
target_sources(test_hub PRIVATE ${CMAKE_SOURCE_DIR}/cli/model_path.c ${CMAKE_SOURCE_DIR}/cli/util.c)
target_include_directories(test_hub PRIVATE ${CMAKE_SOURCE_DIR}/cli)
target_compile_definitions(test_hub PRIVATE
  TS_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
  TS_DATA_DIR="${CMAKE_INSTALL_FULL_DATADIR}/tempscale")

# Fuzzing (issue 15): a harness per parser of outside data, tests/fuzz/fuzz_<name>.c,
# with its corpus in tests/fuzz/corpus/<name>/ (seeds from real files + every
# crash reproducer, named regress-*) and optionally a dictionary
# tests/fuzz/<name>.dict. Each harness is built
#   - always, as fuzz_replay_<name> (any compiler): ctest "fuzz_<name>" (label
#     fuzz) replays the corpus, under ASan/UBSan in `make asan`;
#   - with -DTS_FUZZ=ON (clang), as the libFuzzer binary fuzz_<name>, which
#     `make fuzz` / `make fuzz-ci` run (Makefile).
# Adding a harness: the .c file, its corpus directory, and one line below
# (after the name: libraries to link besides tempscale, if any).

function(ts_fuzz_harness name)
  set(src ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_${name}.c)
  set(corpus ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name})
  foreach(target fuzz_replay_${name} fuzz_${name})
    if(target STREQUAL "fuzz_${name}" AND NOT TS_FUZZ)
      continue()
    endif()
    if(target STREQUAL "fuzz_${name}")
      add_executable(${target} ${src})
      target_link_options(${target} PRIVATE -fsanitize=fuzzer)
      add_dependencies(fuzz_all ${target})
    else()
      add_executable(${target} ${src} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_main.c)
    endif()
    target_include_directories(${target} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests/fuzz)
    target_compile_options(${target} PRIVATE ${TS_WARNINGS})
    target_compile_definitions(${target} PRIVATE TS_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
    target_link_libraries(${target} PRIVATE tempscale ${ARGN})
  endforeach()
  add_test(NAME fuzz_${name} COMMAND fuzz_replay_${name} ${corpus})
  set_tests_properties(fuzz_${name} PROPERTIES LABELS fuzz ENVIRONMENT "${TS_TEST_ENV}" TIMEOUT 300)
endfunction()

if(TS_FUZZ AND NOT TARGET fuzz_all)
  add_custom_target(fuzz_all)
endif()

ts_fuzz_harness(safetensors)          # .safetensors header and tensor table
ts_fuzz_harness(index)                # model.safetensors.index.json (loader and hub cache)
ts_fuzz_harness(config)               # config.json
ts_fuzz_harness(tokenizer_files)      # vocab.json + merges.txt
ts_fuzz_harness(tokenizer_roundtrip)  # GPT-2 encode / decode of any bytes
ts_fuzz_harness(csv)                  # logits CSV
ts_fuzz_harness(npy)                  # NumPy .npy
ts_fuzz_harness(hub_model_info)       # the hub's model-info JSON
ts_fuzz_harness(hub_headers)          # HTTP response headers, etags, sizes, redirects
ts_fuzz_harness(server_request tempscale_server) # serve: route, key, Host, Content-Length, SSE

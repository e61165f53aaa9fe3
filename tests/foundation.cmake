# Foundation: numeric core, RNG, sampler chain, and `tempscale softmax`.
ts_add_test(test_softmax unit)
ts_add_test(test_stats unit)
ts_add_test(test_rng unit)
ts_add_test(test_plot_core unit)

# cli/table.c is part of the CLI, not the library: build it into the test.
ts_add_test(test_table unit)
target_sources(test_table PRIVATE ${CMAKE_SOURCE_DIR}/cli/table.c ${CMAKE_SOURCE_DIR}/cli/util.c)
target_include_directories(test_table PRIVATE ${CMAKE_SOURCE_DIR}/cli)

# The sampler test counts allocations in apply / sample by wrapping malloc.
ts_add_test(test_sampler unit)
target_link_options(test_sampler PRIVATE -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc)

# `tempscale softmax` end to end (runs $TS_CLI).
ts_add_test(test_cli_softmax e2e)

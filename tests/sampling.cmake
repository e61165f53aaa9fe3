# Sampling and generation on the bundled model (issue 12): logprobs recomputed from a
# replaying context, stop strings, min_new_tokens / ignore_eos, the context window
# and context_shift, Mirostat v2 on 500 steps, no allocation in the decode loop.
ts_add_test(test_gen_model model)
target_link_options(test_gen_model PRIVATE -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc)

# Foundation: numeric core, RNG, sampler chain, and `tempscale softmax`.
ts_add_test(test_softmax unit)
ts_add_test(test_stats unit)
ts_add_test(test_rng unit)

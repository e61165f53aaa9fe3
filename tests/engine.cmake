# Engine (issue 3, forward pass): model.c, kernels.c, threadpool.c against the
# PyTorch oracle tools/gen_model_ref.py (fixtures tests/data/model_*).
ts_add_test(test_model model)
ts_add_script_test(test_cli_bench e2e test_cli_bench.sh bash)
# Weight conversion (F16 / BF16 / Q8_0 at load) and the kernels on every dtype x
# layout; Q8_0 blocks against tools/gen_q8_0_ref.py (tests/data/q8_0_ref.*).
ts_add_test(test_q8_0 unit)

# Checkpoint loading (src/engine/safetensors.c, src/engine/config.c, src/engine/weights.c): unit
# tests that write their own small files into a mkdtemp directory.
ts_add_test(test_safetensors unit)
ts_add_test(test_config unit)
ts_add_test(test_weights unit)

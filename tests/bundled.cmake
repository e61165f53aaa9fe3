# The bundled model (issue 4): the C engine's logits on models/tiny-shakespeare
# against the PyTorch model that trained it (tools/gen_tiny_reference.py).
ts_add_test(test_bundled_model model)

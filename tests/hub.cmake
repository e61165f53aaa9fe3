# Hugging Face cache and `tempscale pull` against tests/hub_server.py on 127.0.0.1.
ts_add_test(test_hub e2e)
set_tests_properties(test_hub PROPERTIES TIMEOUT 150)

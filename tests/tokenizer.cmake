# Tokenizer (issue 3): GPT-2 byte-level BPE against the gpt-3-encoder oracle,
# the UTF-8 streaming decoder, and `tempscale tokenize` end to end.
ts_add_test(test_tokenizer unit)
ts_add_test(test_utf8 unit)
ts_add_test(test_tokenize_cli e2e)

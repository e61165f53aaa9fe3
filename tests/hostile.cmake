# Hostile input (issue 15): files an attacker controls (checkpoints, cache
# entries, user CSV / NPY) run in forked children with time and memory checks.
ts_add_test(test_hostile unit)

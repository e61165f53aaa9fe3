# Quality pass: what a user sees after `make install` (bundled model found
# relative to the executable, header + static library usable), and one-line
# errors with exit 2 for bad input across every command.
ts_add_script_test(test_install e2e test_install.sh bash)

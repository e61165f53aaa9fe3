#!/bin/sh
# run.sh SCRIPT.mjs — run a Node test of tests/node/ with the packages that
# `npm ci` put in tests/node/node_modules (`make test-deps` does it).
# Exit 77 (ctest: skipped) when node or the packages are missing, unless
# TS_REQUIRE_ALL=1 (CI), where that is a failure.
here=$(cd "$(dirname "$0")" && pwd)
missing=""
command -v node >/dev/null 2>&1 || missing="node (Debian package nodejs)"
[ -z "$missing" ] && [ ! -d "$here/node_modules/openai" ] && missing="tests/node/node_modules (run 'make test-deps')"
if [ -n "$missing" ]; then
    if [ "$TS_REQUIRE_ALL" = 1 ]; then
        echo "FAIL (TS_REQUIRE_ALL=1): missing $missing"
        exit 1
    fi
    echo "skipped: missing $missing"
    exit 77
fi
exec node "$here/$1"

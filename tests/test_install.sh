#!/usr/bin/env bash
# test_install.sh — `cmake --install` of the already-built tree into a temporary
# prefix, then what a user of the installed files sees (issue 4):
#   * <prefix>/bin/tempscale with no --model finds the bundled model in
#     <prefix>/share/tempscale/models, run from another directory, also through
#     a symlink and after the whole prefix is moved (lookup relative to the
#     executable, not the compile-time prefix or the source tree);
#   * <prefix>/include/tempscale.h compiles alone as C11 and a program links
#     against <prefix>/lib/libtempscale.a, with the flags the installed
#     tempscale.pc gives (pkg-config --cflags --libs), and runs.
# The build directory is the one holding $TS_CLI. Exits non-zero on failure.
set -u
fail=0
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}

build_dir=$(dirname "$TS_CLI")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset TEMPSCALE_MODELS

if ! cmake --install "$build_dir" --prefix "$tmp/a" >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log"
    echo "FAIL cmake --install $build_dir --prefix $tmp/a"
    exit 1
fi
model="share/tempscale/models/tiny-shakespeare"
for f in bin/tempscale include/tempscale.h include/tempscale_request.h "$model/config.json" "$model/model.safetensors" \
    "$model/vocab.json" "$model/merges.txt"; do
    check "installed $f" test -s "$tmp/a/$f"
done
lib=$(cd "$tmp/a" && find . -name libtempscale.a | head -n 1) # ./lib/libtempscale.a
check "installed libtempscale.a" test -n "$lib"
pc=$(cd "$tmp/a" && find . -name tempscale.pc | head -n 1) # ./lib/pkgconfig/tempscale.pc
check "installed tempscale.pc" test -n "$pc"
check "nothing else installed (no tests, benchmarks or internal headers)" \
    test "$(find "$tmp/a" -type f | grep -cv "/$model/")" -eq 5

# Runs tempscale top --json from an unrelated cwd; prints the "model" field.
model_dir_of() {
    (cd "$tmp" && "$1" top --json --k 1 2>"$tmp/stderr") |
        /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin).get("model", ""))'
}
got=$(model_dir_of "$tmp/a/bin/tempscale")
check "installed binary uses <prefix>/$model (got '$got')" test "$got" = "$tmp/a/$model"

mkdir -p "$tmp/elsewhere"
ln -s "$tmp/a/bin/tempscale" "$tmp/elsewhere/ts"
got=$(model_dir_of "$tmp/elsewhere/ts")
check "through a symlink: still <prefix>/$model (got '$got')" test "$got" = "$tmp/a/$model"

mv "$tmp/a" "$tmp/b"
got=$(model_dir_of "$tmp/b/bin/tempscale")
check "prefix moved: uses the new <prefix>/$model (got '$got')" test "$got" = "$tmp/b/$model"

# The header alone, strict C11.
check "tempscale.h compiles alone (-std=c11 -pedantic -Werror)" \
    cc -std=c11 -pedantic -Wall -Wextra -Werror -fsyntax-only -x c "$tmp/b/include/tempscale.h"
check "tempscale_request.h compiles alone (-std=c11 -Werror)" \
    cc -std=c11 -Wall -Wextra -Werror -fsyntax-only -I"$tmp/b/include" -x c \
    "$tmp/b/include/tempscale_request.h"

# A program against the installed header and static library. A sanitizer build's
# library needs the same runtime at link time.
san=()
if nm "$tmp/b/$lib" 2>/dev/null | grep -q __asan_; then san+=(-fsanitize=address); fi
if nm "$tmp/b/$lib" 2>/dev/null | grep -q __ubsan_; then san+=(-fsanitize=undefined); fi
cat >"$tmp/use.c" <<'EOF'
#include <tempscale.h>
#include <tempscale_request.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void)
{
    const float logits[3] = {2.0f, 1.0f, 0.1f};
    double p[3];
    if (ts_softmax(logits, 3, 1.0, p) != TS_OK) return 1;
    /* softmax([2, 1, 0.1]) = [0.6590, 0.2424, 0.0986] */
    if (fabs(p[0] - 0.6590011) > 1e-6 || fabs(p[1] - 0.2424329) > 1e-6) return 1;
    /* The same through the request layer (softmax needs no model). */
    const char *body = "{\"logits\": [2, 1, 0.1], \"temperatures\": [1]}";
    ts_request *r;
    ts_result *res;
    char err[TS_ERR_SIZE];
    if (ts_request_from_json(ts_analysis_find("softmax"), body, strlen(body), &r, err,
                             sizeof err) != TS_OK ||
        ts_request_run(r, NULL, NULL, &res, err, sizeof err) != TS_OK)
        return 1;
    char *js = ts_result_json(res);
    int ok = js && strstr(js, "\"probs\":[0.659001") != NULL;
    free(js);
    ts_result_free(res);
    ts_request_free(r);
    if (!ok) return 1;
    printf("%s %.4f\n", TS_VERSION, p[0]);
    return 0;
}
EOF
# The prefix was moved: the .pc file finds it relative to itself.
flags=$(PKG_CONFIG_PATH="$tmp/b/$(dirname "$pc")" pkg-config --cflags --libs tempscale)
check "pkg-config points into the moved prefix" grep -q -- "-I$tmp/b/" <<<"$flags"
# shellcheck disable=SC2086
if cc -std=c11 "${san[@]}" "$tmp/use.c" $flags -o "$tmp/use" 2>"$tmp/cc.log"; then
    check "a program links against the installed libtempscale.a and runs" "$tmp/use"
else
    cat "$tmp/cc.log"
    check "a program links against the installed libtempscale.a" false
fi
exit $fail

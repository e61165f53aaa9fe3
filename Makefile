# Thin wrapper over CMake so README's commands are short.
#   make deps     install the Debian packages the build needs (root / sudo)
#   make test-deps  deps + what the tests need: clang, Node and Chromium (Debian), and the
#                 npm packages of tests/node (npm ci from the lockfile; never a browser)
#   make          Release build in build/
#   make demo     build, then run the walkthrough on the bundled model
#   make test     build, then run the whole test suite (ctest)
#   make asan     ASan+UBSan build in build-asan/ and its tests
#   make tsan     ThreadSanitizer build in build-tsan/ and the engine's threaded tests
#                 (test_model: thread pools, concurrent contexts, the background copy)
#   make fuzz     libFuzzer (clang) build in build-fuzz/, then every harness of
#                 tests/fuzz/ for FUZZ_TIME seconds each (default 60); one harness:
#                 make fuzz FUZZ=safetensors FUZZ_TIME=600
#   make fuzz-ci  the same, 20 s per harness (what CI runs)
#   make bench    run the benchmarks
#   make format   clang-format every C file
#   make install  install to PREFIX (default /usr/local)
BUILD   ?= build
PREFIX  ?= /usr/local
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

DEB_PACKAGES = build-essential cmake pkg-config libopenblas-dev libcairo2-dev libcjson-dev \
	libcurl4-openssl-dev libutf8proc-dev libcmocka-dev fonts-dejavu-core python3 libssl-dev liblbfgs-dev \
	libmicrohttpd-dev
# What only the tests need (the demo stays light): clang for the fuzzers; Node for the
# official OpenAI client and Chromium for the explorer page in a real browser
# (playwright-core). npm comes with Debian's nodejs as its own package; a Node that
# brings its own npm (e.g. NodeSource's) is kept as it is. numpy for
# tools/make_bench_checkpoint.py, which `tempscale help bench`'s example runs.
TEST_PACKAGES = clang libclang-rt-14-dev nodejs chromium python3-numpy

FUZZ_BUILD   ?= build-fuzz
FUZZ_TIME    ?= 60
FUZZ_CI_TIME ?= 20
FUZZ         ?=

.PHONY: all deps test-deps node-deps build demo test asan tsan fuzz-build fuzz fuzz-ci bench format install clean

all: build

deps:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(DEB_PACKAGES)

# The test suite's extra tools, then the npm packages of tests/node.
test-deps: deps
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(TEST_PACKAGES)
	command -v npm >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq npm
	$(MAKE) node-deps

# The npm registry only; PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: tests use /usr/bin/chromium.
node-deps:
	cd tests/node && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/tempscale demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

asan:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTS_ASAN=ON -DTS_UBSAN=ON >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

tsan:
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTS_TSAN=ON >/dev/null
	cmake --build build-tsan -j $(JOBS) --target test_model
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -R '^test_model$$'

fuzz-build:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTS_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all

fuzz: fuzz-build
	bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_TIME) $(FUZZ)

fuzz-ci: fuzz-build
	bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_CI_TIME) $(FUZZ)

bench: build
	./$(BUILD)/tempscale bench

format:
	clang-format -i include/*.h src/*.h src/*/*.[ch] cli/*.[ch] server/*.[ch] tests/*.[ch] tests/fuzz/*.[ch] bench/*.c

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-tsan $(FUZZ_BUILD)

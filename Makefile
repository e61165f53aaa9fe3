# Thin wrapper over CMake so README's commands are short.
#   make deps     install the Debian packages the build needs (root / sudo)
#   make test-deps  deps + what the tests need: Node and Chromium (Debian), and the
#                 npm packages of tests/node (npm ci from the lockfile; never a browser)
#   make          Release build in build/
#   make demo     build, then run the walkthrough on the bundled model
#   make test     build, then run the whole test suite (ctest)
#   make asan     ASan+UBSan build in build-asan/ and its tests
#   make bench    run the benchmarks
#   make format   clang-format every C file
#   make install  install to PREFIX (default /usr/local)
BUILD   ?= build
PREFIX  ?= /usr/local
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

DEB_PACKAGES = build-essential cmake pkg-config libopenblas-dev libcairo2-dev libcjson-dev \
	libcurl4-openssl-dev libutf8proc-dev libcmocka-dev fonts-dejavu-core python3 libssl-dev \
	libmicrohttpd-dev
# The tests of `tempscale serve` also run the official OpenAI client (Node) and the
# explorer page in a real browser (playwright-core driving Debian's chromium).
# npm comes with Debian's nodejs as its own package; a Node that brings its own npm
# (e.g. NodeSource's) is kept as it is.
TEST_DEB_PACKAGES = nodejs chromium

.PHONY: all deps test-deps node-deps build demo test asan bench format install clean

all: build

deps:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(DEB_PACKAGES)

test-deps: deps
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(TEST_DEB_PACKAGES)
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

bench: build
	./$(BUILD)/tempscale bench

format:
	clang-format -i include/*.h src/*.h src/*/*.[ch] cli/*.[ch] server/*.[ch] tests/*.[ch] bench/*.c

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) build-asan

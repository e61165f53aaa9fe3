# Thin wrapper over CMake so README's commands are short.
#   make deps     install the Debian packages the build and tests need (root / sudo)
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
	libcurl4-openssl-dev libutf8proc-dev libcmocka-dev fonts-dejavu-core python3 libssl-dev liblbfgs-dev

.PHONY: all deps build demo test asan bench format install clean

all: build

deps:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(DEB_PACKAGES)

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
	clang-format -i include/*.h src/*.h src/*/*.[ch] cli/*.[ch] tests/*.[ch] bench/*.c

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) build-asan

# capstan: the README's two commands are `make run` and `make test`.
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
JOBS       ?= $(shell nproc)

.PHONY: all deps configure build run test unit e2e fuzz bench clean

all: build

deps:
	@./scripts/deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: configure
	@ninja -C $(BUILD) -j $(JOBS)

# A single-node cluster in the foreground, state in ./data.
run: build
	$(BUILD)/bin/capstan server --data-dir $(CURDIR)/data

# Every test: unit, end-to-end (real kubectl, real server), and a bounded fuzz run.
test: build fuzz-build
	@cd $(BUILD) && CAPSTAN_SOURCE_DIR=$(CURDIR) CAPSTAN_FUZZ_DIR=$(CURDIR)/$(FUZZ_BUILD) \
	  CAPSTAN_FUZZ_SECONDS=$(FUZZ_SECONDS) ctest --output-on-failure -j 2

unit: build
	@$(BUILD)/bin/unit_tests

e2e: build
	@cd $(BUILD) && CAPSTAN_SOURCE_DIR=$(CURDIR) ctest --output-on-failure -R e2e

# libFuzzer needs clang; it builds only the libraries the targets use.
fuzz-build: deps
	@cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
	  -DCMAKE_C_COMPILER=clang -DCAPSTAN_FUZZ=ON -DCAPSTAN_TESTS=OFF >/dev/null
	@ninja -C $(FUZZ_BUILD) -j $(JOBS) fuzz_request_body fuzz_selectors

fuzz: fuzz-build
	@$(FUZZ_BUILD)/bin/fuzz_request_body -max_total_time=$(FUZZ_SECONDS) tests/fuzz/corpus/body
	@$(FUZZ_BUILD)/bin/fuzz_selectors -max_total_time=$(FUZZ_SECONDS) tests/fuzz/corpus/selectors

bench: build
	@./bench/api/run.sh

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)

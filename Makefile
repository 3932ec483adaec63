# confine — make targets. `make help` lists them.
SHELL := /bin/bash
IMAGES ?= images/images.list
CONFINE ?= bin/confine
# Extra flags for `confine profiles`, e.g. FLAGS="--duration 10 --jobs 3"
FLAGS ?=
PROFILE_ARGS = profiles -i $(IMAGES) $(FLAGS)
STAGES := load-cfgs run-and-trace extract-binaries symbol-scan syscall-resolve profile-emit stats

.PHONY: help setup build images profiles verify test test-unit test-integration typecheck deps schemas clean bench fuzz fn-hunt $(STAGES)

help:
	@echo "make setup        install Docker, mmdebstrap, compilers, npm packages; start dockerd"
	@echo "make build        compile to dist/ (type-checks; bin/confine then starts in ~0.1 s)"
	@echo "make images       build the sample images (skips ones present)"
	@echo "make profiles     run every stage on \$$(IMAGES) (FLAGS=... for more options)"
	@echo "make STAGE        run up to STAGE: $(STAGES)"
	@echo "make test         typecheck + layer check + unit + integration tests (needs setup and images)"
	@echo "make deps         the layer check: no import cycle, no import from a higher layer (.dependency-cruiser.js)"
	@echo "make verify       profiles, then find false negatives with the kernel log (PROBES=images/probes.json)"
	@echo "make bench        benchmarks in tools/bench/"
	@echo "make fuzz         a long fuzz run of the ELF reader and symbol-scan (CASES=50000)"
	@echo "make fn-hunt      differential false-negative hunt: strace vs confine analyze on ~600 programs (FN_HUNT_FLAGS=...)"

setup:
	scripts/setup.sh

build:
	scripts/build.sh

images:
	images/build.sh

profiles:
	$(CONFINE) $(PROFILE_ARGS)

PROBES ?= images/probes.json
verify:
	$(CONFINE) verify -i $(IMAGES) --probes $(PROBES) $(FLAGS)

# The differential false-negative hunt (tools/fn-hunt/): the fn-hunt image's programs, then
# the sample images' programs. Exit 1 when any false negative.
FN_HUNT_FLAGS ?= --samples $(IMAGES) --runs tools/fn-hunt/sample-runs.txt
fn-hunt: build
	npx tsx tools/fn-hunt/main.ts $(FN_HUNT_FLAGS)

CASES ?= 50000
fuzz:
	npx tsx tools/fuzz/elf-fuzz.ts --cases $(CASES)

$(STAGES):
	$(CONFINE) $(PROFILE_ARGS) --until $@

typecheck:
	npx tsc -p tsconfig.json --noEmit

# The layers (.dependency-cruiser.js): fails on an import cycle or an import from a higher layer.
deps:
	npm run --silent deps

schemas:
	npx tsx scripts/gen-schema-types.ts

test-unit:
	npx jest --selectProjects unit

test-integration: images
	npx jest --selectProjects integration --runInBand

# build type-checks everything, and the integration tests then run the compiled CLI.
test: build deps images
	npx jest --runInBand

bench:
	@for b in tools/bench/*.sh; do [ -x "$$b" ] && "$$b"; done

clean:
	rm -rf dist .confine-cache out results

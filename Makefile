# The two commands of this project: `make test` (every test) and, later, `make demo`.
SWIFT ?= swift

.PHONY: test deps build bench

## Install what is missing (librdkafka-dev), then run every test: unit and integration.
test: deps
	$(SWIFT) test

## Install the system librdkafka when pkg-config cannot find it.
deps:
	@./scripts/install-deps.sh

build: deps
	$(SWIFT) build

## Run the benchmarks (a separate package under Benchmarks/).
bench: deps
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark

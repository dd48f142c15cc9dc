# The two commands of this project: `make demo` (the traced order pipeline on an embedded broker)
# and `make test` (every test).
SWIFT ?= swift

.PHONY: test demo deps build bench

## Install what is missing (librdkafka-dev), then run every test: unit and integration.
test: deps
	$(SWIFT) test

## Install what is missing, then run the order pipeline on the embedded broker, printing each trace.
demo: deps
	$(SWIFT) run kafka-tracing-demo pipeline

## Install the system librdkafka when pkg-config cannot find it.
deps:
	@./scripts/install-deps.sh

build: deps
	$(SWIFT) build

## Run the benchmarks (a separate package under Benchmarks/).
bench: deps
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark

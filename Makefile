# The two commands of this project: `make demo` (the traced order pipeline on an embedded broker)
# and `make test` (every test).
SWIFT ?= swift

.PHONY: test demo deps build bench test-asan test-tsan fuzz soak

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

## Run every benchmark side by side with librdkafka from C, and print the table (Benchmarks/run.sh).
bench: deps
	./Benchmarks/run.sh

## Every test under AddressSanitizer (its own build directory).
test-asan: deps
	LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan-suppressions.txt $(SWIFT) test --sanitize=address --scratch-path .build-asan

## Every test under ThreadSanitizer (its own build directory); CI runs it after `test`. librdkafka's
## C11 threads and locks are routed through pthread there, so TSan sees them (Sources/CTSanThreads),
## and our shared state is behind `Locked` (Sources/Locking, a pthread mutex TSan intercepts).
## scripts/tsan-suppressions.txt names only code that is not ours, each entry with its reason.
test-tsan: deps
	TSAN_OPTIONS=suppressions=$(CURDIR)/scripts/tsan-suppressions.txt $(SWIFT) test --sanitize=thread --scratch-path .build-tsan

## libFuzzer over the W3C parsers for FUZZ_SECONDS (300); crashes join the replayed corpus.
fuzz: deps
	./scripts/fuzz.sh $(or $(FUZZ_SECONDS),300)

## 1 M messages through produce → traced relay → traced consume (SOAK_COUNT, SOAK_RATE).
soak: deps
	./scripts/soak.sh

# The demo as a container, for docker-compose.yml: `docker compose up` runs it against the compose
# Kafka and exports to the compose Jaeger. Ubuntu 24.04 (noble) ships librdkafka 2.3, newer than
# the 2.0.2 this library needs.
FROM swift:6.1-noble AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends librdkafka-dev pkg-config zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The Swift runtime (Foundation included) is linked in, so the final image is plain Ubuntu.
RUN swift build -c release --product kafka-tracing-demo --static-swift-stdlib \
    && cp "$(swift build -c release --show-bin-path)/kafka-tracing-demo" /usr/local/bin/

FROM ubuntu:noble
RUN apt-get update \
    && apt-get install -y --no-install-recommends librdkafka1 ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/kafka-tracing-demo /usr/local/bin/
ENTRYPOINT ["kafka-tracing-demo"]
CMD ["pipeline"]

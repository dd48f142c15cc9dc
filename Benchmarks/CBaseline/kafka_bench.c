/*
 * The C baseline: the least a program can do with librdkafka, so that the Swift figures can be
 * given as ratios to it. Built and run by Benchmarks/run.sh.
 *
 *   kafka_bench broker PARTITIONS TOPIC...      embedded (mock) broker; prints its bootstrap
 *                                               servers, runs until stdin closes
 *   kafka_bench produce SERVERS TOPIC COUNT SIZE  COUNT messages of SIZE bytes, waits for every
 *                                               delivery report
 *   kafka_bench produce-traceparent …           the same, each message with a 55-byte traceparent
 *                                               header, as a traced producer sends them
 *   kafka_bench fill SERVERS TOPIC COUNT SIZE PARTITIONS
 *                                               COUNT messages spread evenly over PARTITIONS (so
 *                                               that no partition outgrows the mock's ~5 MB),
 *                                               each with a traceparent header of a trace of its
 *                                               own (as a traced producer sends them): the
 *                                               consumers read, extract and continue real traces
 *   kafka_bench consume SERVERS TOPIC COUNT     reads COUNT messages in a new group, from the
 *                                               earliest offset; timed from the first message
 *   kafka_bench consume-headers …               the same, asking librdkafka for each message's
 *                                               headers (and reading them), as any client that
 *                                               hands headers to its application must: the floor
 *                                               for such a consumer
 *
 * produce and consume print one line: `result messages=N seconds=S allocations=A` (allocations
 * when run under the malloc interposer the Swift benchmarks use, else -1).
 */
#include <dlfcn.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* CPU time the process used so far (every thread, user and system), in seconds. */
static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

static void fail(const char *what, const char *why) {
    fprintf(stderr, "kafka_bench: %s: %s\n", what, why);
    exit(1);
}

static void set(rd_kafka_conf_t *conf, const char *name, const char *value) {
    char error[512];
    if (rd_kafka_conf_set(conf, name, value, error, sizeof error) != RD_KAFKA_CONF_OK) fail(name, error);
}

/* Allocation counting, when the malloc interposer is preloaded (LD_PRELOAD). */
typedef void (*interposer_switch)(void);
typedef void (*interposer_stats)(int64_t *, int64_t *, int64_t *, int64_t *, int64_t *, int64_t *);

static void count_allocations(int on) {
    interposer_switch reset = (interposer_switch)dlsym(RTLD_DEFAULT, "malloc_interposer_reset");
    interposer_switch toggle =
        (interposer_switch)dlsym(RTLD_DEFAULT, on ? "malloc_interposer_enable" : "malloc_interposer_disable");
    if (on && reset) reset();
    if (toggle) toggle();
}

static long long allocations(void) {
    interposer_stats stats = (interposer_stats)dlsym(RTLD_DEFAULT, "malloc_interposer_get_stats");
    if (!stats) return -1;
    int64_t count = 0, bytes = 0, small = 0, large = 0, frees = 0, freed = 0;
    stats(&count, &bytes, &small, &large, &frees, &freed);
    return (long long)count;
}

static long delivered = 0, failed = 0;

static void on_delivery(rd_kafka_t *handle, const rd_kafka_message_t *message, void *opaque) {
    (void)handle;
    (void)opaque;
    if (message->err) failed++;
    else delivered++;
}

static int broker(int partitions, char **topics, int count) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char error[512];
    set(conf, "test.mock.num.brokers", "1");
    set(conf, "log_level", "3");
    rd_kafka_t *handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    if (!handle) fail("mock cluster", error);
    rd_kafka_mock_cluster_t *cluster = rd_kafka_handle_mock_cluster(handle);
    for (int i = 0; i < count; i++) {
        if (rd_kafka_mock_topic_create(cluster, topics[i], partitions, 1)) fail("create topic", topics[i]);
    }
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(cluster));
    fflush(stdout);
    char buffer[64];
    while (read(STDIN_FILENO, buffer, sizeof buffer) > 0) {}
    rd_kafka_destroy(handle);
    return 0;
}

/* The traceparent of the fill's message `index`: a trace of its own (sampled), as a traced
 * producer's messages carry when each is sent under its own root span. */
static const char *fill_traceparent(char value[56], long index) {
    snprintf(value, 56, "00-%016lx%016lx-%016lx-01", 0x4bf92f3577b34da6UL, (unsigned long)index + 1,
             0x00f067aa0ba90000UL + (unsigned long)index);
    return value;
}

static int produce(const char *servers, const char *topic, long count, size_t size, int traceparent, int partitions) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char error[512];
    set(conf, "bootstrap.servers", servers);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    if (!handle) fail("producer", error);
    char *payload = calloc(size ? size : 1, 1);
    memset(payload, 'x', size);
    char traceparent_value[56];

    count_allocations(1);
    double start = now(), cpu_start = cpu_seconds();
    for (long i = 0; i < count; i++) {
        for (;;) {
            rd_kafka_resp_err_t err =
                partitions > 0
                    ? rd_kafka_producev(handle, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(payload, size),
                                        RD_KAFKA_V_PARTITION((int32_t)(i % partitions)),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_HEADER("traceparent", fill_traceparent(traceparent_value, i), 55),
                                        RD_KAFKA_V_END)
                : traceparent
                    ? rd_kafka_producev(handle, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(payload, size),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_HEADER("traceparent",
                                                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55),
                                        RD_KAFKA_V_END)
                    : rd_kafka_producev(handle, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(payload, size),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) fail("produce", rd_kafka_err2str(err));
            rd_kafka_poll(handle, 1);
        }
        rd_kafka_poll(handle, 0);
    }
    rd_kafka_flush(handle, 120000);
    double seconds = now() - start, cpu = cpu_seconds() - cpu_start;
    count_allocations(0);

    printf("result messages=%ld seconds=%.6f allocations=%lld cpu_seconds=%.6f delivered=%ld failed=%ld\n", count, seconds,
           allocations(), cpu, delivered, failed);
    rd_kafka_destroy(handle);
    free(payload);
    return delivered == count ? 0 : 1;
}

/* What consume-headers read, so that the compiler keeps the reads. */
static volatile size_t header_bytes;

static int consume(const char *servers, const char *topic, long count, int headers) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char error[512], group[64];
    snprintf(group, sizeof group, "c-baseline-%ld", (long)getpid());
    set(conf, "bootstrap.servers", servers);
    set(conf, "group.id", group);
    set(conf, "auto.offset.reset", "earliest");
    rd_kafka_t *handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
    if (!handle) fail("consumer", error);
    rd_kafka_poll_set_consumer(handle);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(handle, topics)) fail("subscribe", topic);
    rd_kafka_topic_partition_list_destroy(topics);

    long received = 0;
    double start = 0, cpu_start = 0, deadline = now() + 120;
    while (received < count && now() < deadline) {
        rd_kafka_message_t *message = rd_kafka_consumer_poll(handle, 100);
        if (!message) continue;
        if (!message->err) {
            if (received == 0) {
                start = now();
                cpu_start = cpu_seconds();
                count_allocations(1);
            }
            received++;
            rd_kafka_headers_t *list;
            if (headers && rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                const char *name;
                const void *value;
                size_t size;
                for (size_t index = 0; rd_kafka_header_get_all(list, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; index++)
                    header_bytes += size + strlen(name);
            }
        }
        rd_kafka_message_destroy(message);
    }
    double seconds = now() - start, cpu = cpu_seconds() - cpu_start;
    count_allocations(0);
    printf("result messages=%ld seconds=%.6f allocations=%lld cpu_seconds=%.6f\n", received, seconds, allocations(), cpu);
    rd_kafka_consumer_close(handle);
    rd_kafka_destroy(handle);
    return received == count ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "broker") == 0) return broker(atoi(argv[2]), argv + 3, argc - 3);
    if (argc == 6 && strcmp(argv[1], "produce") == 0) return produce(argv[2], argv[3], atol(argv[4]), (size_t)atol(argv[5]), 0, 0);
    if (argc == 6 && strcmp(argv[1], "produce-traceparent") == 0)
        return produce(argv[2], argv[3], atol(argv[4]), (size_t)atol(argv[5]), 1, 0);
    if (argc == 7 && strcmp(argv[1], "fill") == 0)
        return produce(argv[2], argv[3], atol(argv[4]), (size_t)atol(argv[5]), 0, atoi(argv[6]));
    if (argc == 5 && strcmp(argv[1], "consume") == 0) return consume(argv[2], argv[3], atol(argv[4]), 0);
    if (argc == 5 && strcmp(argv[1], "consume-headers") == 0) return consume(argv[2], argv[3], atol(argv[4]), 1);
    fprintf(stderr, "usage: kafka_bench broker PARTITIONS TOPIC... | produce[-traceparent] SERVERS TOPIC COUNT SIZE | fill SERVERS TOPIC COUNT SIZE PARTITIONS | consume[-headers] SERVERS TOPIC COUNT\n");
    return 2;
}

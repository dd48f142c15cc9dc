#ifndef CRDKAFKA_SHIM_H
#define CRDKAFKA_SHIM_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/*
 * rd_kafka_producev is variadic and rd_kafka_vu_t holds a union: both are awkward from Swift.
 * This builds the value array on the C stack and calls rd_kafka_produceva (librdkafka >= 1.4).
 *
 * key/value: NULL means a null key/value (a null value is a tombstone); a non-NULL pointer with
 * length 0 is an empty one. The payloads and headers' bytes are copied (RD_KAFKA_MSG_F_COPY).
 * headers: ownership passes to librdkafka only when the call succeeds (returns NULL).
 * partition: RD_KAFKA_PARTITION_UA lets the configured partitioner choose.
 * timestamp_ms: 0 lets librdkafka stamp the message.
 */
static inline rd_kafka_error_t *crdkafka_produce(rd_kafka_t *rk,
                                                 const char *topic,
                                                 int32_t partition,
                                                 const void *key,
                                                 size_t key_len,
                                                 const void *value,
                                                 size_t value_len,
                                                 rd_kafka_headers_t *headers,
                                                 int64_t timestamp_ms,
                                                 void *opaque) {
        rd_kafka_vu_t vus[8];
        size_t n = 0;
        vus[n].vtype = RD_KAFKA_VTYPE_TOPIC;
        vus[n++].u.cstr = topic;
        vus[n].vtype = RD_KAFKA_VTYPE_PARTITION;
        vus[n++].u.i32 = partition;
        vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
        vus[n++].u.i = RD_KAFKA_MSG_F_COPY;
        if (value) {
                /* librdkafka treats a NULL pointer as a null value; keep empty values empty. */
                static const char empty = 0;
                vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
                vus[n].u.mem.ptr = (void *)(value_len ? value : &empty);
                vus[n++].u.mem.size = value_len;
        }
        if (key) {
                static const char empty_key = 0;
                vus[n].vtype = RD_KAFKA_VTYPE_KEY;
                vus[n].u.mem.ptr = (void *)(key_len ? key : &empty_key);
                vus[n++].u.mem.size = key_len;
        }
        if (headers) {
                vus[n].vtype = RD_KAFKA_VTYPE_HEADERS;
                vus[n++].u.headers = headers;
        }
        if (timestamp_ms) {
                vus[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
                vus[n++].u.i64 = timestamp_ms;
        }
        if (opaque) {
                vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
                vus[n++].u.ptr = opaque;
        }
        return rd_kafka_produceva(rk, vus, n);
}

#endif

/*
 * The peer `verdict bench passthrough` and `verdict serve` are measured against: a plain C
 * consume -> produce pipe over librdkafka with the same client settings (idempotent producer, lz4,
 * linger 5 ms, cooperative-sticky consumer, fetch.queue.backoff.ms 20, batches via
 * rd_kafka_consume_batch_queue).
 *
 *   cc -O2 -o .build/c-passthrough Benchmarks/c-passthrough/passthrough.c $(pkg-config --cflags --libs rdkafka)
 *   .build/c-passthrough BROKERS INPUT OUTPUT COUNT [--store-after-delivery] [producer.property=value ...]
 *
 * Without --store-after-delivery offsets are auto-stored when records are consumed (at-most-once
 * on a crash). With it, the pipe does what Verdict does for at-least-once: auto-store off, and each
 * input offset stored only from its output's delivery report, so the two are like for like.
 *
 * Timing starts at the first consumed record and ends when COUNT delivery reports arrived.
 */
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile long delivered = 0;
/* The consumer's handle on the input topic, for storing offsets from delivery reports. */
static rd_kafka_topic_t *input_topic = NULL;

/* A record's input partition and offset travel in its opaque: partition << 48 | offset. */
static void *position(int32_t partition, int64_t offset) {
    return (void *)(((uintptr_t)partition << 48) | (uintptr_t)offset);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    if (m->err) return;
    delivered++;
    if (input_topic) {
        uintptr_t p = (uintptr_t)m->_private;
        rd_kafka_offset_store(input_topic, (int32_t)(p >> 48), (int64_t)(p & (((uintptr_t)1 << 48) - 1)));
    }
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char err[256];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s: %s\n", k, err);
        exit(2);
    }
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s BROKERS INPUT OUTPUT COUNT [--store-after-delivery] [producer.property=value ...]\n", argv[0]);
        return 2;
    }
    int store_after_delivery = argc > 5 && strcmp(argv[5], "--store-after-delivery") == 0;
    int first_property = store_after_delivery ? 6 : 5;
    const char *brokers = argv[1], *input = argv[2], *output = argv[3];
    long count = atol(argv[4]);
    char err[512], group[64];
    snprintf(group, sizeof group, "c-passthrough-%ld", (long)time(NULL));

    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    set(pc, "bootstrap.servers", brokers);
    set(pc, "enable.idempotence", "true");
    set(pc, "linger.ms", "5");
    set(pc, "compression.type", "lz4");
    for (int i = first_property; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) { fprintf(stderr, "expected property=value: %s\n", argv[i]); return 2; }
        *eq = 0;
        set(pc, argv[i], eq + 1);
    }
    rd_kafka_conf_set_dr_msg_cb(pc, dr_cb);
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
    if (!producer) { fprintf(stderr, "%s\n", err); return 1; }

    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    set(cc, "bootstrap.servers", brokers);
    set(cc, "group.id", group);
    set(cc, "auto.offset.reset", "earliest");
    set(cc, "session.timeout.ms", "6000");
    set(cc, "partition.assignment.strategy", "cooperative-sticky");
    set(cc, "fetch.queue.backoff.ms", "20");  /* as Verdict's consumer sets it */
    if (store_after_delivery) set(cc, "enable.auto.offset.store", "false");
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
    if (!consumer) { fprintf(stderr, "%s\n", err); return 1; }
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, input, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(consumer);
    rd_kafka_topic_t *out = rd_kafka_topic_new(producer, output, NULL);
    if (store_after_delivery) input_topic = rd_kafka_topic_new(consumer, input, NULL);

    rd_kafka_message_t *batch[2000];
    long consumed = 0;
    double start = 0, deadline = now() + 300;
    while (delivered < count && now() < deadline) {
        ssize_t n = rd_kafka_consume_batch_queue(queue, 100, batch, 2000);
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = batch[i];
            if (!m->err && consumed < count) {
                if (start == 0) start = now();
                while (rd_kafka_produce(out, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, m->payload, m->len,
                                        m->key, m->key_len, position(m->partition, m->offset + 1)) == -1) {
                    rd_kafka_poll(producer, 10);
                }
                consumed++;
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_poll(producer, 0);
    }
    while (delivered < count && now() < deadline) rd_kafka_poll(producer, 50);
    double elapsed = now() - start;
    printf("c-passthrough%s: %ld records %s -> %s in %.2f s = %.0f msgs/s\n",
           store_after_delivery ? " (offsets stored after delivery)" : "", delivered, input, output, elapsed, delivered / elapsed);
    rd_kafka_queue_destroy(queue);
    if (input_topic) rd_kafka_topic_destroy(input_topic);
    rd_kafka_topic_destroy(out);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    rd_kafka_flush(producer, 10000);
    rd_kafka_destroy(producer);
    return delivered >= count ? 0 : 1;
}

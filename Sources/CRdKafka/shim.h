// The librdkafka C API, as VerdictKafka sees it. Only VerdictKafka imports this module.
#pragma once
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/// Names the calling thread (shown by `top -H`, gdb, perf); glibc keeps this behind _GNU_SOURCE,
/// which Swift's Glibc module does not define.
static inline void verdict_set_thread_name(const char *name) {
#if defined(__linux__)
    char truncated[16];
    int i = 0;
    for (; i < 15 && name[i]; i++) truncated[i] = name[i];
    truncated[i] = 0;
    pthread_setname_np(pthread_self(), truncated);
#endif
}

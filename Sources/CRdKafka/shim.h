// The librdkafka C API, as VerdictKafka sees it. Only VerdictKafka imports this module.
#pragma once
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

/// Names the calling thread (shown by `top -H`, gdb, perf). prctl, because glibc declares
/// pthread_setname_np only under _GNU_SOURCE, which would change this module's view of system types.
static inline void verdict_set_thread_name(const char *name) {
#if defined(__linux__)
    prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
#endif
}

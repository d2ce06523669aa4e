import CRdKafka
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An OS thread for blocking librdkafka calls, which must never run on Swift's cooperative pool:
/// a blocked pool thread stalls every task scheduled on it, and the pool has as many threads as cores.
final class DedicatedThread: @unchecked Sendable {
    // Written once by start() before any reader; join() reads it after start returned.
    private var thread: pthread_t?
    /// Signalled when the body returns, for joins with a deadline.
    private let finished = Completion()

    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// Starts a thread running `body`. `name` is shown by `top -H` and debuggers (15 characters max).
    init(name: String, _ body: @escaping @Sendable () -> Void) {
        let finished = self.finished
        let box = Unmanaged.passRetained(
            Body {
                verdict_set_thread_name(name)
                body()
                finished.signal()
            }
        ).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(
            &handle, nil,
            { raw in
                let body = Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue()
                body.run()
                return nil
            }, box)
        precondition(result == 0, "pthread_create failed with \(result): the process is out of threads")
        thread = handle
    }

    /// Waits for the thread to finish.
    func join() {
        guard let thread else { return }
        self.thread = nil
        pthread_join(thread, nil)
    }

    /// Waits for the thread to finish, at most `timeout`. Returns false when it is still running
    /// (it is then left to finish on its own, detached).
    func join(timeout: Duration) -> Bool {
        guard let thread else { return true }
        self.thread = nil
        guard finished.wait(timeout: timeout) else {
            pthread_detach(thread)
            return false
        }
        pthread_join(thread, nil)
        return true
    }

    /// Runs a blocking call on a new dedicated thread and waits for it without blocking the caller's
    /// cooperative thread.
    static func run<T: Sendable>(name: String, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = DedicatedThread(name: name) { continuation.resume(returning: body()) }
            // Detach: the continuation carries the result; nobody joins.
            if let handle = thread.thread { pthread_detach(handle) }
            thread.thread = nil
        }
    }

    /// Runs `body` on a new detached thread and waits at most `timeout` for it to finish.
    /// Returns false when it was still running at the deadline (it then finishes on its own).
    /// Used for librdkafka calls that can hang when a broker stops answering (destroy, close).
    static func runBounded(name: String, timeout: Duration, _ body: @escaping @Sendable () -> Void) -> Bool {
        let done = Completion()
        let thread = DedicatedThread(name: name) {
            body()
            done.signal()
        }
        if let handle = thread.thread { pthread_detach(handle) }
        thread.thread = nil
        return done.wait(timeout: timeout)
    }
}

/// A one-shot completion a thread can wait on with a deadline.
final class Completion: @unchecked Sendable {
    // Guarded by `mutex`; pthread primitives because Synchronization's Mutex cannot wait on a condition.
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var done = false

    init() {
        pthread_mutex_init(&mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if canImport(Glibc)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(&condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    func signal() {
        pthread_mutex_lock(&mutex)
        done = true
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    /// Waits until signalled or until `timeout` passes; returns whether it was signalled.
    func wait(timeout: Duration) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let (seconds, attoseconds) = timeout.components
        let nanos = Int(deadline.tv_nsec) + Int(attoseconds / 1_000_000_000)
        deadline.tv_sec += Int(seconds) + nanos / 1_000_000_000
        deadline.tv_nsec = nanos % 1_000_000_000
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while !done {
            if pthread_cond_timedwait(&condition, &mutex, &deadline) == ETIMEDOUT { return done }
        }
        return true
    }
}

/// A broadcast signal producers of an event (delivery reports) raise and waiters block on, with a deadline.
final class WaitSignal: @unchecked Sendable {
    // Guarded by `mutex`.
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var generation: UInt64 = 0

    init() {
        pthread_mutex_init(&mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if canImport(Glibc)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(&condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    func broadcast() {
        pthread_mutex_lock(&mutex)
        generation &+= 1
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    /// Waits for the next broadcast or `timeout`, whichever comes first.
    func wait(timeout: Duration) {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let (seconds, attoseconds) = timeout.components
        let nanos = Int(deadline.tv_nsec) + Int(attoseconds / 1_000_000_000)
        deadline.tv_sec += Int(seconds) + nanos / 1_000_000_000
        deadline.tv_nsec = nanos % 1_000_000_000
        pthread_mutex_lock(&mutex)
        let start = generation
        while generation == start {
            if pthread_cond_timedwait(&condition, &mutex, &deadline) == ETIMEDOUT { break }
        }
        pthread_mutex_unlock(&mutex)
    }
}

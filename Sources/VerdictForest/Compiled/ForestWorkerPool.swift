#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A fixed set of threads that score parts of large batches. Threads are created once; a batch hands
/// out its chunks through an atomic counter, the calling thread takes chunks too, and `run` returns
/// when every chunk is done. No thread is created and nothing is allocated per batch.
public final class ForestWorkerPool: @unchecked Sendable {
    // Everything below is guarded by `mutex`, except `next` (atomic) and the job pointer, which is
    // published under the mutex before `generation` changes and read after observing it.
    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    private var done = pthread_cond_t()
    private var generation: UInt64 = 0
    private var busyWorkers = 0
    private var shuttingDown = false
    private var job: UnsafeRawPointer?
    private var taskCount = 0
    private let next = Atomic<Int>(0)
    private var threads: [pthread_t] = []
    /// Serializes batches from different callers (each batch uses the whole pool).
    private let batchLock = Mutex(())

    /// Threads scoring a batch, the caller's included.
    public let threadCount: Int

    /// Creates the pool.
    ///
    /// - Parameter threads: Threads per batch including the caller's; default = the machine's cores.
    public init(threads: Int? = nil) {
        let wanted = max(1, threads ?? Self.coreCount)
        threadCount = wanted
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        pthread_cond_init(&done, nil)
        for _ in 1..<wanted {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(self).toOpaque()
            pthread_create(
                &thread, nil,
                { raw in
                    let pool = Unmanaged<ForestWorkerPool>.fromOpaque(raw!).takeRetainedValue()
                    pool.workerLoop()
                    return nil
                }, context)
            self.threads.append(thread)
        }
    }

    /// Stops the threads. The pool must not be used afterwards.
    public func shutdown() {
        pthread_mutex_lock(&mutex)
        shuttingDown = true
        pthread_cond_broadcast(&wake)
        pthread_mutex_unlock(&mutex)
        for thread in threads { pthread_join(thread, nil) }
        threads.removeAll()
    }

    /// The number of online cores.
    public static var coreCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Runs `body(0..<tasks)` across the pool and returns when all are done.
    public func run(tasks: Int, _ body: (Int) -> Void) {
        guard tasks > 0 else { return }
        guard threadCount > 1, tasks > 1, !threads.isEmpty else {
            for task in 0..<tasks { body(task) }
            return
        }
        batchLock.withLock { _ in
            withoutActuallyEscaping(body) { escapable in
                withUnsafePointer(to: escapable) { pointer in
                    pthread_mutex_lock(&mutex)
                    job = UnsafeRawPointer(pointer)
                    taskCount = tasks
                    next.store(0, ordering: .relaxed)
                    busyWorkers = threads.count
                    generation &+= 1
                    pthread_cond_broadcast(&wake)
                    pthread_mutex_unlock(&mutex)
                    drain(pointer.pointee, tasks: tasks)
                    pthread_mutex_lock(&mutex)
                    while busyWorkers > 0 { pthread_cond_wait(&done, &mutex) }
                    job = nil
                    pthread_mutex_unlock(&mutex)
                }
            }
        }
    }

    private func drain(_ body: (Int) -> Void, tasks: Int) {
        while true {
            let task = next.add(1, ordering: .relaxed).oldValue
            guard task < tasks else { return }
            body(task)
        }
    }

    private func workerLoop() {
        var seen: UInt64 = 0
        pthread_mutex_lock(&mutex)
        while true {
            while generation == seen && !shuttingDown { pthread_cond_wait(&wake, &mutex) }
            if shuttingDown { break }
            seen = generation
            let pointer = job!.assumingMemoryBound(to: ((Int) -> Void).self)
            let tasks = taskCount
            pthread_mutex_unlock(&mutex)
            drain(pointer.pointee, tasks: tasks)
            pthread_mutex_lock(&mutex)
            busyWorkers -= 1
            if busyWorkers == 0 { pthread_cond_signal(&done) }
        }
        pthread_mutex_unlock(&mutex)
    }
}

import Foundation
import Logging
public import ServiceLifecycle
import Synchronization
public import VerdictScoring

/// Population stability (PSI) of the score and of every feature against the training bins in the
/// model card, over a window of recently scored events, published as `verdict_psi{variable}`.
/// PSI = sum over bins (and the missing bucket) of (actual - expected) * ln(actual / expected);
/// above 0.1 is a shift worth a look, above 0.25 a shift worth acting on.
public final class DriftMonitor: ScoringObserver, Service, Sendable {
    private let models: ModelManager?
    private let metrics: PipelineMetrics?
    private let interval: Duration
    private let capacity: Int
    private let sampleEvery: Int
    private let window: Mutex<Window>
    private let counter = Atomic<Int>(0)
    private let publishedValues = Mutex<[String: Double]>([:])

    /// The PSI values last published.
    public var published: [String: Double] { publishedValues.withLock { $0 } }

    private struct Window {
        var scores: [Double] = []
        var rows: [[Double]] = []
        var next = 0
    }

    /// - Parameters:
    ///   - capacity: Events kept in the window.
    ///   - sampleEvery: Keep one event in this many (keeps the cost off the scoring path).
    public init(models: ModelManager?, metrics: PipelineMetrics?, interval: Duration = .seconds(30), capacity: Int = 20_000, sampleEvery: Int = 4) {
        self.models = models
        self.metrics = metrics
        self.interval = interval
        self.capacity = capacity
        self.sampleEvery = max(1, sampleEvery)
        window = Mutex(Window())
    }

    public func scored(row: ArraySlice<Double>, score: Double) {
        guard counter.add(1, ordering: .relaxed).newValue % sampleEvery == 0 else { return }
        let copy = Array(row)
        window.withLock { w in
            if w.scores.count < capacity {
                w.scores.append(score)
                w.rows.append(copy)
            } else {
                w.scores[w.next] = score
                w.rows[w.next] = copy
                w.next = (w.next + 1) % capacity
            }
        }
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: self.interval)
                self.publish()
            }
        }
    }

    /// Computes and publishes PSI for the current window; returns the values (for tests).
    @discardableResult
    public func publish(models override: ModelManager? = nil) -> [String: Double] {
        guard let (model, reference) = (override ?? models)?.psiReference else { return [:] }
        let (scores, rows) = window.withLock { ($0.scores, $0.rows) }
        guard scores.count >= 100 else { return [:] }
        var result = ["score": Self.psi(scores, reference.score)]
        for (index, name) in model.plan.featureNames.enumerated() {
            guard let bins = reference.features?[name] else { continue }
            result[name] = Self.psi(rows.map { $0[index] }, bins)
        }
        for (variable, value) in result { metrics?.psi(value, variable: variable) }
        publishedValues.withLock { $0 = result }
        return result
    }

    /// PSI of `values` against reference bins (edges with nil for -inf/+inf, fractions per bin,
    /// share of missing values).
    public static func psi(_ values: [Double], _ bins: ModelCard.Bins) -> Double {
        let inner = bins.edges.dropFirst().dropLast().compactMap { $0 }
        var counts = [Double](repeating: 0, count: inner.count + 1)
        var missing = 0.0
        for value in values {
            if value.isNaN { missing += 1; continue }
            // Bins are (-inf, e1], (e1, e2], ..., (en, inf): numpy.histogram's right-closed inner edges.
            var low = 0, high = inner.count
            while low < high {
                let mid = (low + high) / 2
                if value > inner[mid] { low = mid + 1 } else { high = mid }
            }
            counts[low] += 1
        }
        let total = Double(values.count)
        let epsilon = 1e-4
        var psi = 0.0
        for (index, expected) in bins.fractions.enumerated() where index < counts.count {
            let actual = max(counts[index] / total, epsilon)
            let e = max(expected, epsilon)
            psi += (actual - e) * log(actual / e)
        }
        let expectedMissing = bins.missing ?? 0
        if expectedMissing > 0 || missing > 0 {
            let actual = max(missing / total, epsilon), e = max(expectedMissing, epsilon)
            psi += (actual - e) * log(actual / e)
        }
        return psi
    }
}

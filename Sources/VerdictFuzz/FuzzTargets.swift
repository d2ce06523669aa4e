#if canImport(Glibc)
import Glibc
#endif
import VerdictForest
import VerdictONNX
import VerdictScoring

/// The libFuzzer targets: each feeds one input to a parser of hostile bytes. A trap, a read past
/// the input (AddressSanitizer) or a leak is a finding; a refusal is the expected outcome.
enum FuzzTarget: String, CaseIterable {
    case event
    case xgboostJSON = "xgboost-json"
    case xgboostUBJSON = "xgboost-ubjson"
    case lightgbm
    case onnx
    case aggregateSnapshot = "aggregate-snapshot"

    /// The events of the stream: the validator the stream runs (decoder, checks, PAN detection),
    /// then the dead-letter envelope of what it refused.
    static let validator = EventValidator(configuration: ValidationConfiguration())

    func run(_ data: UnsafeRawBufferPointer) {
        let bytes = [UInt8](data)
        switch self {
        case .event:
            // Exactly the input's bytes, no padding: a read past the end is a read past the record.
            let result = Self.validator.validate(data, now: 1_764_547_200)
            if case .invalid(let issues, _) = result {
                let input = ScoringInput(value: bytes, source: EventSource(topic: "fuzz", partition: 0, offset: 0), receivedAt: 0)
                _ = DeadLetterWriter.write(input, issues: issues, now: 0)
            }
            var masked = bytes
            PANMasking.maskAll(&masked)
        case .xgboostJSON:
            score(try? XGBoostReader.read(bytes, name: "fuzz.json", binary: false, sha256: ""))
        case .xgboostUBJSON:
            score(try? XGBoostReader.read(bytes, name: "fuzz.ubj", binary: true, sha256: ""))
        case .lightgbm:
            score(try? LightGBMReader.read(bytes, name: "fuzz.txt", sha256: ""))
        case .onnx:
            score(try? ONNXReader.read(bytes, name: "fuzz.onnx", sha256: ""))
        case .aggregateSnapshot:
            // The fingerprint is a 64-bit hash the fuzzer cannot guess: write it in, so the
            // inputs explore the body (key counts, lengths, records), then go on with the stream.
            var snapshot = bytes
            if snapshot.count >= 16 {
                withUnsafeBytes(of: Self.aggregatePlan.fingerprint.littleEndian) { snapshot.replaceSubrange(8..<16, with: $0) }
            }
            guard var state = try? AggregateState(plan: Self.aggregatePlan, snapshot: snapshot) else { return }
            Self.aggregateEvent.withUnsafeBytes { record in
                var event = TransactionEvent()
                guard Self.validator.validate(record, now: 1_764_547_200, into: &event).isEmpty else { return }
                var values = [Double](repeating: 0, count: Self.aggregatePlan.names.count)
                values.withUnsafeMutableBufferPointer { state.apply(event, record: record, into: $0) }
            }
        }
    }

    /// Every aggregate function, keyed by card and by merchant.
    static let aggregatePlan: AggregatePlan = {
        let hour = ConfigDuration(.seconds(3600)), minute = ConfigDuration(.seconds(60))
        let definitions = [
            AggregateDefinition(name: "c", function: .count, key: "card_id", window: hour, resolution: minute),
            AggregateDefinition(name: "s", function: .sum, key: "card_id", field: "amount_usd", window: hour, resolution: minute),
            AggregateDefinition(name: "m", function: .mean, key: "card_id", field: "amount_usd", window: hour, resolution: minute),
            AggregateDefinition(name: "x", function: .max, key: "card_id", field: "amount_usd", window: hour, resolution: minute),
            AggregateDefinition(name: "d", function: .distinct, key: "card_id", field: "merchant_id", window: hour, resolution: minute, capacity: 4),
            AggregateDefinition(name: "l", function: .secondsSinceLast, key: "merchant_id"),
        ]
        return try! AggregatePlan(definitions)  // fixed and valid: a failure here is a bug in this file
    }()
    static let aggregateEvent = Array(
        #"{"schema_version":1,"transaction_id":"t","event_time":"2025-12-01T00:00:00Z","card_id":"c1","amount":5,"currency":"USD","merchant_id":"m1"}"#.utf8)

    /// A model that loads must score and explain a row without trapping.
    private func score(_ forest: Forest?) {
        guard let forest, forest.featureCount <= 4_096 else { return }
        let row = [Double](repeating: 0.5, count: forest.featureCount)
        _ = forest.predict(row)
    }

    /// The target named by `VERDICT_FUZZ_TARGET`.
    static let selected: FuzzTarget = {
        let name = getenv("VERDICT_FUZZ_TARGET").map { String(cString: $0) } ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            fatalError("set VERDICT_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return target
    }()
}

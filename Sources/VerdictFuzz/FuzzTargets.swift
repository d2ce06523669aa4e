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
        }
    }

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

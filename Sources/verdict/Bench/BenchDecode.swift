import ArgumentParser
import Foundation
import VerdictScoring

/// Decode + validate + build features, the per-event work before the model: the number to hold
/// against the 1 µs per event budget.
struct BenchDecode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Time decode + validate + feature building per event (one thread)."
    )

    @Option(help: "Service configuration (verdict.yaml).") var config: String = "config/verdict.yaml"
    @Option(help: "Events, one JSON object per line.") var input: String
    @Option(help: "Seconds to measure.") var seconds: Double = 3
    @Flag(help: "Print one JSON object.") var json = false
    @Flag(name: .customLong("skip-features"), help: "Decode and validate only (to see the features' share).") var skipFeatures = false

    func run() async throws {
        let setup = try ScoringSetup(configPath: config)
        var validation = setup.scoring.validation
        validation.maxEventAge = ConfigDuration(.zero)
        let validator = EventValidator(configuration: validation)
        let plan = try FeaturePlan(configuration: setup.scoring.features)
        var reader = try LineReader(path: input)
        var records: [[UInt8]] = []
        while let line = reader.next(), records.count < 200_000 { if !line.isEmpty { records.append(line) } }
        guard !records.isEmpty else { throw ValidationError("\(input) holds no events") }
        let bytes = records.reduce(0) { $0 + $1.count } / records.count
        var row = [Double](repeating: 0, count: plan.featureNames.count)
        let now = Date().timeIntervalSince1970
        // Read once: a property wrapper's getter per event showed up in the profile.
        let withFeatures = !skipFeatures
        var valid = 0
        let clock = ContinuousClock()
        var count = 0
        let start = clock.now
        row.withUnsafeMutableBufferPointer { out in
            while (clock.now - start).seconds < seconds {
                for record in records {
                    record.withUnsafeBytes { raw in
                        var event = TransactionEvent()
                        if validator.validate(raw, now: now, into: &event).isEmpty {
                            if withFeatures { plan.build(event, record: raw, into: out.baseAddress!) }
                            valid += 1
                        }
                    }
                }
                count += records.count
            }
        }
        let elapsed = (clock.now - start).seconds
        let perEvent = elapsed / Double(count) * 1e9
        if json {
            print(
                #"{"benchmark":"decode","events":\#(count),"mean_bytes":\#(bytes),"ns_per_event":\#(Int(perEvent)),"events_per_s":\#(Int(Double(count) / elapsed))}"#
            )
        } else {
            print(
                "decode+validate+features: \(count) events of \(bytes) bytes (mean), \(Int(perEvent)) ns/event = \(Int(Double(count) / elapsed)) events/s on one thread (\(valid) valid)"
            )
        }
    }
}

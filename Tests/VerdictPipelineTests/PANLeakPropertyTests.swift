import Foundation
import Logging
import Prometheus
import Synchronization
import Testing
import VerdictForest
import VerdictKafka
import VerdictONNX
@testable import VerdictPipeline
import VerdictScoring

/// Card numbers placed at random in events, keys and headers never leave Verdict: no byte of a
/// decision, a dead letter (value, key, headers), a log line or the metrics page holds a Luhn-valid
/// 13-19 digit run once separators are removed and escapes decoded.
@Suite("No card number leaves Verdict (property)")
struct PANLeakPropertyTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    // MARK: The oracle

    /// The first Luhn-valid 13-19 digit window in `bytes`, with separators (space, dash, dot) removed
    /// and `\u00XX` escapes decoded; 64-character hex digests (sha256 of models and records) are
    /// skipped, since hex can hold digit runs that are no card number.
    static func leakedPAN(_ bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        var decoded = text.replacing(/[0-9a-f]{64}/, with: "#")
        decoded = decoded.replacing(/\\u00([0-9a-fA-F]{2})/) { match in
            String(UnicodeScalar(UInt8(match.1, radix: 16)!))
        }
        var digits: [UInt8] = []
        func check() -> String? {
            defer { digits.removeAll() }
            guard digits.count >= 13 else { return nil }
            for start in 0..<digits.count {
                for length in 13...19 where start + length <= digits.count {
                    let window = digits[start..<(start + length)]
                    if PANMasking.luhnValid(window) { return String(decoding: window, as: UTF8.self) }
                }
            }
            return nil
        }
        for b in decoded.utf8 {
            if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") { digits.append(b); continue }
            if b == UInt8(ascii: " ") || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") { continue }
            if let found = check() { return found }
        }
        return check()
    }

    @Test("the oracle finds what it must")
    func oracle() {
        #expect(Self.leakedPAN(Array("x 4111 1111  1111.1111 y".utf8)) == "4111111111111111")
        #expect(Self.leakedPAN(Array(#"4111\u00311111-1111-1111"#.utf8)) != nil)
        #expect(Self.leakedPAN(Array("411111******1111".utf8)) == nil)
    }

    // MARK: Random card numbers and where they go

    typealias Generator = SplitMix64

    /// A Luhn-valid number of 13-19 digits.
    static func pan(_ rng: inout Generator) -> [UInt8] {
        let length = Int.random(in: 13...19, using: &rng)
        var digits = [UInt8(ascii: ["3", "4", "5", "6"].randomElement(using: &rng)!)]
        while digits.count < length - 1 { digits.append(UInt8(ascii: "0") + UInt8.random(in: 0...9, using: &rng)) }
        for check in 0...9 where PANMasking.luhnValid(digits + [UInt8(ascii: "0") + UInt8(check)]) {
            digits.append(UInt8(ascii: "0") + UInt8(check))
            break
        }
        return digits
    }

    /// A card number as a sender might write it: plain, grouped by one or two separators, with
    /// escaped digits or separators, glued to more digits, or two in a row.
    static func written(_ rng: inout Generator, json: Bool) -> String {
        let digits = pan(&rng).map { Character(UnicodeScalar($0)) }
        switch Int.random(in: 0..<7, using: &rng) {
        case 0: return String(digits)
        case 1, 2:
            let separator = [" ", "-", ".", "  ", " - "].randomElement(using: &rng)!
            return stride(from: 0, to: digits.count, by: 4).map { String(digits[$0..<min($0 + 4, digits.count)]) }.joined(separator: separator)
        case 3:
            // Escapes only mean something inside JSON strings.
            guard json else { return String(digits) }
            return digits.map { Int.random(in: 0..<3, using: &rng) == 0 ? "\\u003\($0)" : String($0) }.joined()
        case 4: return "98" + String(digits) + "7"
        case 5: return String(digits) + String(pan(&rng).map { Character(UnicodeScalar($0)) })
        default:
            guard json else { return String(digits) + "x" }
            return String(digits.prefix(6)) + "\\u0020" + String(digits.dropFirst(6))
        }
    }

    static let template: [(String, String)] = [
        ("schema_version", "1"), ("transaction_id", "\"tx-abc-12\""), ("event_time", "\"NOW\""), ("card_id", "\"tok_abcd12\""),
        ("amount", "42.5"), ("currency", "\"USD\""), ("merchant_id", "\"m_77\""), ("merchant_category", "\"5411\""),
        ("merchant_country", "\"US\""), ("card_country", "\"US\""), ("channel", "\"ecommerce\""),
    ]

    /// An event with a card number in one random place (or none), as JSON.
    static func event(_ rng: inout Generator, now: String) -> String {
        var members = template.map { ($0.0, $0.1.replacingOccurrences(of: "NOW", with: now)) }
        let pan = written(&rng, json: true)
        switch Int.random(in: 0..<9, using: &rng) {
        case 0: members[1].1 = "\"ord-\(pan)\""
        case 1: members[3].1 = "\"tok_\(pan)\""
        case 2: members[6].1 = "\"m-\(pan)\""
        case 3: members.append(("note", "\"card \(pan) please\""))
        case 4: members.append((pan, "1"))
        case 5: members.append(("card_number", "\"\(pan)\""))
        case 6: members.append(("nested", "{\"a\":[\"\(pan)\"]}"))
        case 7: members[4].1 = pan.allSatisfy(\.isNumber) ? pan : "\"\(pan)\""
        default: break
        }
        if Bool.random(using: &rng) { members.shuffle(using: &rng) }
        return "{" + members.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    final class Capture: @unchecked Sendable {
        let lines = Mutex<[String]>([])
    }

    /// A handler that keeps what it is given: what MaskingLogHandler passes on is what the text
    /// format would write.
    struct CaptureHandler: LogHandler {
        let capture: Capture
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
            capture.lines.withLock { $0.append("\(event.message) \(merged) \(event.error.map { "\($0)" } ?? "")") }
        }
    }

    struct HostileError: Error, CustomStringConvertible {
        var description: String
    }

    @Test("2,000 seeded events with card numbers in values, names, keys and headers leak none")
    func noLeak() throws {
        let configuration = try VerdictConfiguration.load(path: Self.root.appendingPathComponent("config/verdict.yaml").path, environment: [:])
        let scoring = try ScoringConfiguration.load(
            features: configuration.resolve(configuration.scoring.features),
            rules: configuration.resolve(configuration.scoring.rules),
            validation: configuration.scoring.validation
        )
        let registry = PrometheusCollectorRegistry()
        let metrics = PipelineMetrics(factory: PrometheusMetricsFactory(registry: registry), inputTopics: configuration.topics.input, build: [])
        let logFile = FileManager.default.temporaryDirectory.appendingPathComponent("verdict-pan-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logFile)
        let capture = Capture()
        let jsonLogger = Logger(label: "verdict") { JSONLogHandler(label: $0, level: .trace, output: JSONLogHandler.Output(handle)) }
        let textLogger = Logger(label: "verdict") { _ in MaskingLogHandler(CaptureHandler(capture: capture)) }
        let models = try ModelManager(
            configuration: configuration, scoring: scoring, pool: nil, metrics: metrics, logger: jsonLogger,
            loader: { request throws(ForestError) in try ModelLoader.loadAnyFormat(request) })
        #expect(models.hasModel)
        let processor = ScoringProcessor(models: models, decisionsTopic: "decisions", deadLetterTopic: "dlq", metrics: metrics)

        var rng = Generator(seed: 20_261_201)
        let now = Timestamps.rfc3339(Date().timeIntervalSince1970)
        var messages: [KafkaMessage] = []
        var planted = 0
        for offset in 0..<2_000 {
            let value = Self.event(&rng, now: now)
            var key = Array("tok_abcd12".utf8)
            var headers = [KafkaHeader(name: "trace", string: "t-1")]
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: key = Array(Self.written(&rng, json: false).utf8)
            case 1: headers.append(KafkaHeader(name: "x-card", string: Self.written(&rng, json: false)))
            case 2: headers.append(KafkaHeader(name: Self.written(&rng, json: false), string: "v"))
            default: break
            }
            if Self.leakedPAN(Array(value.utf8) + [0x20] + key + headers.flatMap { Array($0.name.utf8) + [0x20] + ($0.value ?? []) }) != nil { planted += 1 }
            messages.append(KafkaMessage(topic: "transactions", partition: 0, offset: Int64(offset), key: key, value: Array(value.utf8), headers: headers))
            // What the service logs about a record goes through the same masking in both formats.
            if offset % 10 == 0 {
                let pan = Self.written(&rng, json: false)
                for logger in [jsonLogger, textLogger] {
                    logger.error(
                        "refused \(pan)", metadata: ["detail": "\(pan)", "list": [.string(pan)], "error": .stringConvertible(HostileError(description: pan))])
                }
            }
        }
        #expect(planted > 1_500, "the generator must plant card numbers in most records (\(planted))")

        var outputs: [KafkaProducerRecord] = []
        for batch in stride(from: 0, to: messages.count, by: 250) {
            processor.process(Array(messages[batch..<min(batch + 250, messages.count)]), into: &outputs)
        }
        #expect(outputs.count == messages.count)
        var decisions = 0
        var deadLetters = 0
        for output in outputs {
            if output.topic == "decisions" { decisions += 1 } else { deadLetters += 1 }
            for (what, bytes) in [("value", output.value ?? []), ("key", output.key ?? [])]
                + output.headers.map({ ("header \($0.name)", Array($0.name.utf8) + [0x20] + ($0.value ?? [])) })
            {
                if let pan = Self.leakedPAN(bytes) {
                    Issue.record("\(output.topic) \(what) holds \(pan): \(String(decoding: bytes.prefix(400), as: UTF8.self))")
                }
            }
        }
        #expect(decisions > 0 && deadLetters > 0, "\(outputs.first.map { String(decoding: $0.value ?? [], as: UTF8.self) } ?? "")")
        try handle.synchronize()
        let logged = try [UInt8](Data(contentsOf: logFile))
        #expect(logged.count > 1_000)
        #expect(Self.leakedPAN(logged) == nil, "JSON log: \(Self.leakedPAN(logged) ?? "")")
        let text = capture.lines.withLock { $0.joined(separator: "\n") }
        #expect(!text.isEmpty)
        #expect(Self.leakedPAN(Array(text.utf8)) == nil, "text log: \(Self.leakedPAN(Array(text.utf8)) ?? "")")
        var page: [UInt8] = []
        registry.emit(into: &page)
        #expect(!page.isEmpty)
        // Sample values are floats whose 15-17 significant digits, read without the decimal point,
        // are no card number: what could carry one is a metric's name and labels.
        let series = String(decoding: page, as: UTF8.self).split(separator: "\n").map { line in
            line.hasPrefix("#") ? String(line) : String(line[..<(line.lastIndex(of: " ") ?? line.endIndex)])
        }
        #expect(series.count > 20)
        for line in series { #expect(Self.leakedPAN(Array(line.utf8)) == nil, "\(line)") }
    }

    @Test(
        "identifiers carrying a card number are dead-lettered PAN_NOT_ALLOWED; UUIDs are not",
        arguments: [
            ("transaction_id", "4111111111111111"), ("transaction_id", "ord-378282246310005"), ("card_id", "tok_5555555555554444"),
            ("merchant_id", "m-4111-1111-1111-1111"), ("transaction_id", "x.3782.822463.10005"), ("card_id", "tok_12345678903555555555554444"),
        ])
    func identifiers(_ field: String, _ id: String) throws {
        let validator = EventValidator(configuration: ValidationConfiguration())
        let now = Date().timeIntervalSince1970
        let members = Self.template.map { $0.0 == field ? ($0.0, "\"\(id)\"") : ($0.0, $0.1.replacingOccurrences(of: "NOW", with: Timestamps.rfc3339(now))) }
        let json = "{" + members.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
        let result = Array(json.utf8).withUnsafeBytes { validator.validate($0, now: now) }
        guard case .invalid(let issues, _) = result else { Issue.record("accepted \(id)"); return }
        #expect(issues.contains { $0.code == .panNotAllowed && $0.field == "/\(field)" })
        #expect(!issues.contains { $0.message.contains(id) })
    }

    @Test("random UUIDs are never taken for card numbers (the separator-blind rule flags 0.72% of them)")
    func uuids() {
        var flagged = 0
        for _ in 0..<100_000 {
            let uuid = UUID().uuidString.lowercased()
            if Array(uuid.utf8).withUnsafeBytes({ PANMasking.identifierCarriesPAN($0) }) { flagged += 1 }
        }
        #expect(flagged == 0)
    }
}

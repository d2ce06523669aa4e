/// A duration written in configuration as `250ms`, `10s`, `5m`, `2h` or `7d` (or plain seconds).
public struct ConfigDuration: Sendable, Hashable, Codable, CustomStringConvertible {
    public var duration: Duration

    public init(_ duration: Duration) {
        self.duration = duration
    }

    /// Parses `text`; nil when it is not a duration.
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: " ")
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            let number = trimmed.dropLast(suffix.count)
            // "ms" also ends in "s": make sure the number part is a number.
            guard let value = Double(number), value >= 0 else { continue }
            self.duration = .milliseconds(Int64((value * scale * 1000).rounded()))
            return
        }
        guard let seconds = Double(trimmed), seconds >= 0 else { return nil }
        self.duration = .milliseconds(Int64((seconds * 1000).rounded()))
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let seconds = try? container.decode(Double.self) {
            self.duration = .milliseconds(Int64((seconds * 1000).rounded()))
            return
        }
        let text = try container.decode(String.self)
        guard let parsed = ConfigDuration(parsing: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not a duration; write e.g. 250ms, 10s, 5m, 2h or 7d")
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public var seconds: Double {
        let (s, atto) = duration.components
        return Double(s) + Double(atto) / 1e18
    }

    public var description: String {
        let ms = Int64(seconds * 1000)
        if ms % 86_400_000 == 0 && ms > 0 { return "\(ms / 86_400_000)d" }
        if ms % 3_600_000 == 0 && ms > 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0 && ms > 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }
}

extension String {
    func trimmingCharacters(in characters: String) -> String {
        var s = Substring(self)
        while let first = s.first, characters.contains(first) { s = s.dropFirst() }
        while let last = s.last, characters.contains(last) { s = s.dropLast() }
        return String(s)
    }
}

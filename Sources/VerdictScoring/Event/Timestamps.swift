/// RFC 3339 formatting for generators and tools.
public enum Timestamps {
    /// `seconds` since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public static func rfc3339(_ seconds: Double) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        RFC3339.format(seconds, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses an RFC 3339 date-time to seconds since the epoch.
    public static func parse(_ text: String) -> Double? {
        var text = text
        return text.withUTF8 { RFC3339.parse(UnsafeRawBufferPointer($0)) }
    }
}

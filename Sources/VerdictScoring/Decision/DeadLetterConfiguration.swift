/// How dead letters are written (`dead_letters.*` in the service configuration).
public struct DeadLetterConfiguration: Sendable, Hashable, Codable {
    /// The default for ``maxOriginalBytes``: 16 KiB.
    public static let defaultMaxOriginalBytes = 16_384

    /// `dead_letters.max_original_bytes`: how much of the original record an envelope embeds (a
    /// PAN-masked prefix; the envelope also carries the original's length and sha256). JSON escaping
    /// can grow the prefix up to six times and headers are capped separately, so the envelope stays
    /// far below a producer's `message.max.bytes` whatever the input was. Default 16384.
    public var maxOriginalBytes: Int = DeadLetterConfiguration.defaultMaxOriginalBytes

    /// The most header bytes (names and values) copied from an input to its decision or dead letter.
    /// Headers beyond it are dropped and counted in `verdict-headers-dropped`, so an input with huge
    /// headers cannot make an output too large to publish. 16 KiB.
    public static let maxCopiedHeaderBytes = 16_384

    public init(maxOriginalBytes: Int = DeadLetterConfiguration.defaultMaxOriginalBytes) {
        self.maxOriginalBytes = maxOriginalBytes
    }

    enum CodingKeys: String, CodingKey {
        case maxOriginalBytes = "max_original_bytes"
    }
}

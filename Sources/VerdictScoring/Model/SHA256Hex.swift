import VerdictForest

/// Hex SHA-256 of bytes (the forest engine's implementation, so cards and loaders agree).
public enum SHA256Hex {
    public static func of(_ bytes: [UInt8]) -> String { SHA256.hex(bytes) }
}

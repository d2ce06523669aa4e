/// Loads a model file in any supported format, chosen by its extension (and checked by content).
public enum ModelLoader {
    /// Reads the formats the forest engine handles itself (XGBoost JSON/UBJSON, LightGBM text).
    /// ONNX needs `VerdictONNX`: pass its reader as `onnx`.
    ///
    /// - Parameters:
    ///   - request: The model file, the size cap and, when a card describes the file, its sha256.
    ///   - onnx: Reads ONNX bytes (`ONNXReader.read`); nil refuses ONNX files.
    /// - Throws: ``ForestError`` saying why the file was refused.
    /// - Important: With `expectedSHA256` set, the bytes are hashed and compared before any parser
    ///   sees them: a file that is not the one the card describes is never parsed.
    public static func load(
        _ request: ModelLoadRequest,
        onnx: ((_ bytes: [UInt8], _ name: String, _ sha256: String, _ limits: ModelLimits) throws(ForestError) -> Forest)? = nil
    ) throws(ForestError) -> Forest {
        let path = request.path
        let bytes = try FileBytes.read(path, maxBytes: request.limits.maxFileBytes)
        // Only the file name goes into errors: /model and logs must not disclose the host's layout.
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let sha = SHA256.hex(bytes)
        if let expected = request.expectedSHA256, expected.lowercased() != sha {
            throw ForestError(
                .unreadable, "\(name): sha256 \(sha) does not match the card's \(expected); the file changed after it was verified (it was not parsed)")
        }
        let lower = name.lowercased()
        if lower.hasSuffix(".ubj") {
            return try XGBoostReader.read(bytes, name: name, binary: true, sha256: sha, limits: request.limits)
        }
        if lower.hasSuffix(".json") {
            return try XGBoostReader.read(bytes, name: name, binary: false, sha256: sha, limits: request.limits)
        }
        if lower.hasSuffix(".onnx") {
            guard let onnx else { throw ForestError.unsupported(name, "ONNX models need the VerdictONNX reader") }
            return try onnx(bytes, name, sha, request.limits)
        }
        if bytes.starts(with: Array("tree\n".utf8)) || bytes.starts(with: Array("tree\r\n".utf8)) {
            return try LightGBMReader.read(bytes, name: name, sha256: sha, limits: request.limits)
        }
        if bytes.first == UInt8(ascii: "{") {
            // XGBoost UBJSON also starts with '{'; its second byte is a length marker, JSON's is not.
            let second = bytes.count > 1 ? bytes[1] : 0
            let binary = [UInt8(ascii: "i"), UInt8(ascii: "U"), UInt8(ascii: "I"), UInt8(ascii: "l"), UInt8(ascii: "L")].contains(second)
            return try XGBoostReader.read(bytes, name: name, binary: binary, sha256: sha, limits: request.limits)
        }
        throw ForestError(.unsupported, "\(name): unknown model format; expected an XGBoost .json/.ubj, a LightGBM text model or an ONNX tree ensemble")
    }
}

/// What to load: a model file, the limits it must stay within and the sha256 its card gives.
public struct ModelLoadRequest: Sendable, Hashable {
    public var path: String
    public var expectedSHA256: String?
    public var limits: ModelLimits

    public init(path: String, expectedSHA256: String? = nil, limits: ModelLimits = .standard) {
        self.path = path
        self.expectedSHA256 = expectedSHA256
        self.limits = limits
    }
}

/// Loads a model file into a ``Forest`` (every format, in the executable; a fake in tests).
public typealias ModelFileLoader = @Sendable (ModelLoadRequest) throws(ForestError) -> Forest

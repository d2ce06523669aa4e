/// Loads a model file in any supported format, chosen by its extension (and checked by content).
public enum ModelLoader {
    /// Reads the formats the forest engine handles itself (XGBoost JSON/UBJSON, LightGBM text).
    /// ONNX needs `VerdictONNX`: pass its reader as `onnx`.
    ///
    /// - Parameters:
    ///   - path: The model file: `.json` and `.ubj` (XGBoost), `.txt`/`.model`/`.lgb` (LightGBM), `.onnx`.
    ///   - onnx: Reads ONNX bytes (`ONNXReader.read`); nil refuses ONNX files.
    /// - Throws: ``ForestError`` saying why the file was refused.
    public static func load(
        path: String,
        onnx: ((_ bytes: [UInt8], _ name: String, _ sha256: String) throws(ForestError) -> Forest)? = nil
    ) throws(ForestError) -> Forest {
        let bytes = try FileBytes.read(path)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let sha = SHA256.hex(bytes)
        let lower = name.lowercased()
        if lower.hasSuffix(".ubj") {
            return try XGBoostReader.read(bytes, name: name, binary: true, sha256: sha)
        }
        if lower.hasSuffix(".json") {
            return try XGBoostReader.read(bytes, name: name, binary: false, sha256: sha)
        }
        if lower.hasSuffix(".onnx") {
            guard let onnx else { throw ForestError.unsupported(name, "ONNX models need the VerdictONNX reader") }
            return try onnx(bytes, name, sha)
        }
        if bytes.starts(with: Array("tree\n".utf8)) || bytes.starts(with: Array("tree\r\n".utf8)) {
            return try LightGBMReader.read(bytes, name: name, sha256: sha)
        }
        if bytes.first == UInt8(ascii: "{") {
            // XGBoost UBJSON also starts with '{'; its second byte is a length marker, JSON's is not.
            let second = bytes.count > 1 ? bytes[1] : 0
            let binary = [UInt8(ascii: "i"), UInt8(ascii: "U"), UInt8(ascii: "I"), UInt8(ascii: "l"), UInt8(ascii: "L")].contains(second)
            return try XGBoostReader.read(bytes, name: name, binary: binary, sha256: sha)
        }
        throw ForestError(.unsupported, "\(name): unknown model format; expected an XGBoost .json/.ubj, a LightGBM text model or an ONNX tree ensemble")
    }
}

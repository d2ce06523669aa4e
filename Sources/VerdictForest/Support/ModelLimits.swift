/// The bounds a model file must stay within before the readers allocate anything for it.
///
/// Model files are hostile input: a shared volume can hold a truncated upload or a crafted file, and
/// with hot reload one bad file would otherwise crash every replica that watches it. Every count a
/// reader takes from a file (features, classes, nodes, children) goes through these checks before it
/// is used in arithmetic or to size an allocation, so a refused file is an error naming the file,
/// never a trap, and loading needs memory within a small multiple of the file's size.
public struct ModelLimits: Sendable, Hashable {
    /// The largest model file read, in bytes (`model.max_file_bytes`). Checked against the file's
    /// size before a byte is read.
    public var maxFileBytes: Int
    /// The most input features a model may declare. XGBoost and LightGBM models in production have
    /// hundreds to tens of thousands; a larger count is a corrupt or crafted header.
    public var maxFeatures: Int
    /// The most outputs (classes or targets) a model may declare.
    public var maxOutputs: Int

    /// The default file-size cap: 1 GiB.
    public static let defaultMaxFileBytes = 1 << 30
    /// The default feature cap: 2^20.
    public static let defaultMaxFeatures = 1 << 20
    /// The default output cap: 2^16.
    public static let defaultMaxOutputs = 1 << 16

    /// The limits Verdict applies when nothing else is configured.
    public static let standard = ModelLimits()

    public init(
        maxFileBytes: Int = ModelLimits.defaultMaxFileBytes,
        maxFeatures: Int = ModelLimits.defaultMaxFeatures,
        maxOutputs: Int = ModelLimits.defaultMaxOutputs
    ) {
        self.maxFileBytes = maxFileBytes
        self.maxFeatures = maxFeatures
        self.maxOutputs = maxOutputs
    }

    /// A feature count read from `file` (already a count, not an index), or an error saying why not.
    public func featureCount(_ count: Int, file: String, key: String) throws(ForestError) -> Int {
        guard count >= 1, count <= maxFeatures else {
            throw ForestError.malformed(file, "\(key) declares \(count) features; a model has 1 to \(maxFeatures)")
        }
        return count
    }

    /// An output (class) count read from `file`, or an error saying why not.
    public func outputCount(_ count: Int, file: String, key: String) throws(ForestError) -> Int {
        guard count >= 1, count <= maxOutputs else {
            throw ForestError.malformed(file, "\(key) declares \(count) outputs; a model has 1 to \(maxOutputs)")
        }
        return count
    }

    /// `index + 1` for a largest-output-index field (ONNX target ids), checked before the addition.
    public func outputCount(lastIndex index: Int, file: String, key: String) throws(ForestError) -> Int {
        guard index >= 0, index < maxOutputs else {
            throw ForestError.malformed(file, "\(key) refers to output \(index), outside 0..<\(maxOutputs)")
        }
        return index + 1
    }

    /// `index + 1` for a largest-index field (LightGBM's `max_feature_idx`), checked before the addition.
    public func featureCount(lastIndex index: Int, file: String, key: String) throws(ForestError) -> Int {
        guard index >= 0, index < maxFeatures else {
            throw ForestError.malformed(file, "\(key)=\(index) is outside 0..<\(maxFeatures)")
        }
        return index + 1
    }
}

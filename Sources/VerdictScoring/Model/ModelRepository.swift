import Foundation
public import VerdictForest

/// Where models live and which version is active.
///
/// `model.path` in the configuration may be:
/// - a model file (`model.json`, `.ubj`, LightGBM `.txt`, `.onnx`), with an optional `card.json` beside it;
/// - a version directory holding one model file and its `card.json`;
/// - a model directory of version directories (`models/<name>/<version>/`): the active version is
///   the one named in its `ACTIVE` file, else the highest version.
public struct ModelRepository: Sendable {
    /// A version found on disk.
    public struct Version: Sendable, Hashable {
        public var version: String
        public var directory: String
        public var modelFile: String
        public var card: ModelCard?
    }

    public let path: String
    /// Reads model bytes of every supported format (the ONNX reader lives in its own module).
    public let loader: ModelFileLoader
    /// The bounds a model file must stay within (`model.max_file_bytes`).
    public let limits: ModelLimits

    public init(path: String, limits: ModelLimits = .standard, loader: @escaping ModelFileLoader) {
        self.path = path
        self.limits = limits
        self.loader = loader
    }

    static let modelExtensions = ["json", "ubj", "txt", "model", "onnx"]

    private var isDirectory: Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
    }

    /// True when the path is a directory of versions (activation applies).
    public var isVersioned: Bool {
        isDirectory && !FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("card.json"))
            && (try? FileManager.default.contentsOfDirectory(atPath: path).contains { Self.isVersionDirectory((path as NSString).appendingPathComponent($0)) })
                == true
    }

    private static func isVersionDirectory(_ directory: String) -> Bool {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else { return false }
        return modelFile(in: directory) != nil
    }

    /// The model file of a version directory: the card's `model_file`, else the only model file.
    static func modelFile(in directory: String) -> String? {
        let cardPath = (directory as NSString).appendingPathComponent("card.json")
        if let card = try? ModelCard.load(path: cardPath) {
            // ModelCard.load has refused a model_file that could leave the directory.
            return (directory as NSString).appendingPathComponent(card.modelFile)
        }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let models = files.filter { modelExtensions.contains(($0 as NSString).pathExtension.lowercased()) && $0 != "card.json" }
        return models.count == 1 ? (directory as NSString).appendingPathComponent(models[0]) : nil
    }

    /// The versions of a versioned repository, oldest first.
    public func versions() -> [Version] {
        guard isVersioned, let entries = try? FileManager.default.contentsOfDirectory(atPath: path) else { return [] }
        return entries.sorted(by: Self.versionOrder).compactMap { entry in
            let directory = (path as NSString).appendingPathComponent(entry)
            guard Self.isVersionDirectory(directory), let file = Self.modelFile(in: directory) else { return nil }
            let card = try? ModelCard.load(path: (directory as NSString).appendingPathComponent("card.json"))
            return Version(version: entry, directory: directory, modelFile: file, card: card)
        }
    }

    /// Orders "1.2.10" after "1.2.9" (numeric parts compared as numbers).
    static func versionOrder(_ a: String, _ b: String) -> Bool {
        let pa = a.split(whereSeparator: { !$0.isNumber && !$0.isLetter }), pb = b.split(whereSeparator: { !$0.isNumber && !$0.isLetter })
        for (x, y) in zip(pa, pb) where x != y {
            if let nx = Int(x), let ny = Int(y) { return nx < ny }
            return x < y
        }
        return pa.count < pb.count
    }

    private var activeFile: String { (path as NSString).appendingPathComponent("ACTIVE") }

    /// The active version's name (versioned repositories only).
    public func activeVersion() -> String? {
        guard isVersioned else { return nil }
        if let text = try? String(contentsOfFile: activeFile, encoding: .utf8) {
            let name = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if versions().contains(where: { $0.version == name }) { return name }
        }
        return versions().last?.version
    }

    /// Makes `version` active, persisted in the `ACTIVE` file (written atomically) so a restart keeps it.
    ///
    /// - Throws: ``ScoringError`` when the version does not exist or the file cannot be written.
    public func activate(_ version: String) throws(ScoringError) {
        guard versions().contains(where: { $0.version == version }) else {
            throw ScoringError(.model, "version '\(version)' does not exist in \(path); available: \(versions().map(\.version).joined(separator: ", "))")
        }
        do {
            try (version + "\n").write(toFile: activeFile, atomically: true, encoding: .utf8)
        } catch {
            throw ScoringError(.model, "cannot write \(activeFile): \(error.localizedDescription)")
        }
    }

    /// The model file and card to load now (following activation).
    public func resolve() throws(ScoringError) -> (file: String, card: ModelCard?, name: String, version: String) {
        if isVersioned {
            guard let active = activeVersion(), let version = versions().first(where: { $0.version == active }) else {
                throw ScoringError(.model, "\(path) holds no model versions")
            }
            let name = version.card?.name ?? (path as NSString).lastPathComponent
            return (version.modelFile, version.card, name, version.version)
        }
        if isDirectory {
            guard let file = Self.modelFile(in: path) else {
                throw ScoringError(.model, "\(path) holds no single model file (or card.json naming one)")
            }
            let card = try? ModelCard.load(path: (path as NSString).appendingPathComponent("card.json"))
            return (file, card, card?.name ?? (path as NSString).lastPathComponent, card?.version ?? "unversioned")
        }
        let cardPath = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("card.json")
        let card = try? ModelCard.load(path: cardPath)
        let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        return (path, card, card?.name ?? stem, card?.version ?? "unversioned")
    }

    /// Loads the active model and checks it (sha256 against the card, features mapped, golden
    /// vectors reproduced).
    ///
    /// - Throws: ``ScoringError`` saying why the model was refused.
    public func load(features: FeatureConfiguration, verifyGoldenVectors: Bool = true) throws(ScoringError) -> ScoringModel {
        let (file, card, name, version) = try resolve()
        return try Self.load(
            file: file, card: card, name: name, version: version, features: features, verify: verifyGoldenVectors,
            limits: limits, loader: loader)
    }

    /// Loads a specific model file with its card. With a card, the file's sha256 is compared with
    /// the card's before the file is parsed: a file swapped or corrupted in place is never parsed.
    public static func load(
        file: String, card: ModelCard?, name: String, version: String, features: FeatureConfiguration, verify: Bool,
        limits: ModelLimits = .standard, loader: ModelFileLoader
    ) throws(ScoringError) -> ScoringModel {
        let forest: Forest
        do {
            forest = try loader(ModelLoadRequest(path: file, expectedSHA256: card?.sha256, limits: limits))
        } catch {
            // The model's own name and version, not the path: errors reach /model and logs.
            throw ScoringError(.model, "cannot load model \(name) \(card?.version ?? version): \(error.message)")
        }
        let model = try ScoringModel(forest: forest, name: name, version: card?.version ?? version, card: card, features: features)
        if verify { try model.verifyGoldenVectors() }
        return model
    }
}

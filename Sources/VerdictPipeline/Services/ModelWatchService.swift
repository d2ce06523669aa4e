import Foundation
public import Logging
public import ServiceLifecycle
import VerdictScoring

/// Reloads the model when its files change, and the policy (features.yaml, rules.yaml) when those
/// change: an atomic rename, an edited ACTIVE file, or a Kubernetes ConfigMap update (which swaps
/// the `..data` symlink, so the resolved path changes).
/// Changes are checked once a second and must be stable for one check before a reload, so a
/// half-copied file is never loaded; a version that was refused is not retried until it changes again.
public final class ModelWatchService: Service, Sendable {
    private let models: ModelManager
    private let interval: Duration
    private let logger: Logger

    public init(models: ModelManager, interval: Duration = .seconds(1), logger: Logger) {
        self.models = models
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown { try await self.watch() }
    }

    private func watch() async throws {
        var model = Watched(current: fingerprint())
        var policy = Watched(current: Self.fingerprint(files: models.policyFiles))
        while !Task.isCancelled {
            try await Task.sleep(for: interval)
            // The policy first: a model that needs a feature the new features.yaml adds then loads.
            let policyNow = Self.fingerprint(files: models.policyFiles)
            if policy.due(policyNow) {
                policy.settle(policyNow, accepted: (try? models.reloadPolicy(reason: "features.yaml or rules.yaml changed")) != nil)
            }
            let modelNow = fingerprint()
            if model.due(modelNow) {
                model.settle(modelNow, accepted: (try? models.reload(reason: "model files changed")) != nil)
            }
        }
    }

    /// The change detection for one set of files: a new fingerprint must stay the same for one more
    /// check (the copy is complete) before a reload, and a refused one is not retried until it
    /// changes again.
    struct Watched {
        var current: String
        var candidate: String?
        var refused: String?

        /// Whether `now` should be loaded.
        mutating func due(_ now: String) -> Bool {
            guard now != current, now != refused else {
                candidate = nil
                return false
            }
            guard candidate == now else {
                candidate = now
                return false
            }
            candidate = nil
            return true
        }

        /// Records the outcome of loading `fingerprint` (the one `due` accepted).
        mutating func settle(_ fingerprint: String, accepted: Bool) {
            if accepted {
                current = fingerprint
                refused = nil
            } else {
                refused = fingerprint
            }
        }
    }

    /// Identifies what could be loaded: paths, sizes, modification times and inodes of the ACTIVE
    /// file and of every file in the repository and its version directories (or of the model file
    /// and the card beside it). Only `stat`: resolving the active version parses every card, which
    /// cost 8% of the service's CPU when this ran each second. A change anywhere triggers a reload
    /// attempt, which decides what is active and validates it.
    func fingerprint() -> String {
        let root = models.repository.path
        let manager = FileManager.default
        var files: [String] = []
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue {
            files.append((root as NSString).appendingPathComponent("ACTIVE"))
            for entry in ((try? manager.contentsOfDirectory(atPath: root)) ?? []).sorted() {
                let path = (root as NSString).appendingPathComponent(entry)
                var entryIsDirectory: ObjCBool = false
                if manager.fileExists(atPath: path, isDirectory: &entryIsDirectory), entryIsDirectory.boolValue {
                    files += ((try? manager.contentsOfDirectory(atPath: path)) ?? []).sorted().map { (path as NSString).appendingPathComponent($0) }
                } else if entry != "ACTIVE" {
                    files.append(path)
                }
            }
        } else {
            files.append(root)
            files.append(((root as NSString).deletingLastPathComponent as NSString).appendingPathComponent("card.json"))
        }
        return Self.fingerprint(files: files)
    }

    /// Paths (symlinks resolved), inodes, sizes and modification times of `files`.
    static func fingerprint(files: [String]) -> String {
        var parts: [String] = []
        for file in files {
            let real =
                (try? FileManager.default.destinationOfSymbolicLink(atPath: file)).map { _ in URL(fileURLWithPath: file).resolvingSymlinksInPath().path }
                ?? URL(fileURLWithPath: file).resolvingSymlinksInPath().path
            var info = stat()
            if stat(real, &info) == 0 {
                parts.append("\(real):\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)")
            } else {
                parts.append("\(real):missing")
            }
        }
        return parts.joined(separator: "|")
    }
}

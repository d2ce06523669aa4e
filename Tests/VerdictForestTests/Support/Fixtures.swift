import Foundation
import Testing
import VerdictForest
import VerdictONNX

/// Where the test data lives. The reference models are read from ../shared/reference-models when that
/// checkout is present (and must then equal the committed copy), otherwise from the committed copy.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    static let projectRoot = directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var sharedReference: URL? {
        if let env = ProcessInfo.processInfo.environment["VERDICT_REFERENCE_MODELS"] { return URL(fileURLWithPath: env) }
        let shared = projectRoot.deletingLastPathComponent().appendingPathComponent("shared/reference-models")
        return FileManager.default.fileExists(atPath: shared.appendingPathComponent("manifest.json").path) ? shared : nil
    }

    static var reference: URL { sharedReference ?? directory.appendingPathComponent("reference") }

    static func path(_ relative: String) -> String { directory.appendingPathComponent(relative).path }

    /// A CSV of numbers with a header; empty cells are NaN.
    struct Table {
        var header: [String]
        var rows: [[Double]]

        var flat: [Double] { rows.flatMap { $0 } }

        func column(_ name: String) -> [Double]? {
            header.firstIndex(of: name).map { index in rows.map { $0[index] } }
        }
    }

    static func table(_ path: String) throws -> Table {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var lines = text.split(whereSeparator: \.isNewline)
        let header = lines.removeFirst().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let rows = lines.map { line in
            line.split(separator: ",", omittingEmptySubsequences: false).map { Double($0) ?? .nan }
        }
        return Table(header: header, rows: rows)
    }

    static func load(_ path: String) throws -> Forest {
        try ModelLoader.loadAnyFormat(path: path)
    }
}

import Foundation
import Testing
@testable import VerdictForest
import VerdictONNX

/// Broken, truncated and hostile model files are refused with an error naming the file (and the
/// tree and node when the structure is wrong), never a crash.
@Suite("Model validation")
struct ModelValidationTests {
    static let modelFiles = [
        "reference/models/xgb_d6_300.json", "reference/models/xgb_d6_300.ubj", "reference/models/lgb_300_l63.txt",
        "reference/models/rf_100_d12.onnx", "generated/lgb_binary_cat.txt", "generated/xgb_softprob_cat.json",
    ]

    func read(_ bytes: [UInt8], name: String) throws(ForestError) -> Forest {
        let lower = name.lowercased()
        if lower.hasSuffix(".onnx") { return try ONNXReader.read(bytes, name: name, sha256: "") }
        if lower.hasSuffix(".txt") { return try LightGBMReader.read(bytes, name: name, sha256: "") }
        return try XGBoostReader.read(bytes, name: name, binary: lower.hasSuffix(".ubj"), sha256: "")
    }

    @Test("truncated files are refused with the file's name", arguments: modelFiles)
    func truncated(_ file: String) throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.path(file))))
        let name = URL(fileURLWithPath: file).lastPathComponent
        for fraction in [0.0, 0.01, 0.1, 0.33, 0.5, 0.77, 0.99] {
            let cut = Array(bytes.prefix(Int(Double(bytes.count) * fraction)))
            #expect(throws: ForestError.self, "cut at \(fraction)") { _ = try read(cut, name: name) }
            do { _ = try read(cut, name: name) } catch { #expect(error.message.contains(name)) }
        }
    }

    @Test("randomly mutated files never crash the reader; what loads still scores finite numbers", arguments: modelFiles)
    func mutated(_ file: String) throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.path(file))))
        let name = URL(fileURLWithPath: file).lastPathComponent
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<30 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...20, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            do {
                let forest = try read(bytes, name: name)
                let row = [Double](repeating: 1, count: forest.featureCount)
                #expect(forest.predict(row).margins.allSatisfy { !$0.isNaN })
            } catch {
                #expect(!error.message.isEmpty)
            }
        }
    }

    func info(features: Int = 2, outputs: Int = 1) -> ModelInfo {
        ModelInfo(
            format: .xgboostJSON, source: "test.json", objective: "reg:squarederror", producer: "test", outputCount: outputs,
            classLabels: [], featureNames: (0..<features).map { "f\($0)" }, transform: .identity, sigmoidScale: 1,
            baseMargins: Array(repeating: 0, count: outputs), averageTrees: false, arithmetic: .lightgbm,
            isBinaryClassifier: false, isClassifier: false)
    }

    func split(_ feature: Int, _ t: Double, _ l: Int, _ r: Int) -> DecisionNode {
        .split(.numeric(feature: feature, threshold: t, comparison: .lessOrEqual, missing: .left), left: l, right: r)
    }

    @Test("structural problems are reported with tree and node")
    func structure() {
        let cases: [(String, [DecisionNode], String)] = [
            ("child out of range", [split(0, 1, 1, 5), .leaf(1)], "tree 0, node 0"),
            ("cycle", [split(0, 1, 1, 2), split(0, 2, 0, 2), .leaf(1)], "reached twice"),
            ("unreachable", [split(0, 1, 1, 2), .leaf(1), .leaf(2), .leaf(3)], "not reachable"),
            ("feature out of range", [split(7, 1, 1, 2), .leaf(1), .leaf(2)], "feature 7"),
            ("NaN threshold", [split(0, .nan, 1, 2), .leaf(1), .leaf(2)], "NaN"),
            ("infinite leaf", [split(0, 1, 1, 2), .leaf(.infinity), .leaf(2)], "not finite"),
        ]
        for (label, nodes, fragment) in cases {
            do {
                _ = try Forest(info: info(), trees: [DecisionTree(nodes: nodes)], sha256: "")
                Issue.record("\(label) was accepted")
            } catch {
                #expect(error.code == .invalidModel, "\(label)")
                #expect(error.message.contains("test.json"), "\(label): \(error.message)")
                #expect(error.message.contains(fragment), "\(label): \(error.message)")
            }
        }
    }

    @Test("LightGBM linear trees are refused with the reason, not approximated")
    func linearTrees() throws {
        var text = try String(contentsOfFile: Fixtures.path("generated/lgb_regression.txt"), encoding: .utf8)
        text = text.replacingOccurrences(of: "is_linear=0", with: "is_linear=1")
        #expect { _ = try LightGBMReader.read(Array(text.utf8), name: "linear.txt", sha256: "") } throws: { error in
            (error as? ForestError)?.code == .unsupported && "\(error)".contains("linear")
        }
    }

    @Test("unsupported XGBoost objectives and boosters name what is supported")
    func unsupportedXGBoost() throws {
        var text = try String(contentsOfFile: Fixtures.path("generated/xgb_squarederror.json"), encoding: .utf8)
        text = text.replacingOccurrences(of: "\"reg:squarederror\"", with: "\"rank:pairwise\"")
        #expect { _ = try XGBoostReader.read(Array(text.utf8), name: "rank.json", binary: false, sha256: "") } throws: { error in
            (error as? ForestError)?.code == .unsupported && "\(error)".contains("rank:pairwise")
        }
    }

    @Test("a missing file is unreadable, naming the path")
    func missingFile() {
        #expect { _ = try ModelLoader.loadAnyFormat(path: "/nonexistent/model.json") } throws: { error in
            (error as? ForestError)?.code == .unreadable && "\(error)".contains("/nonexistent/model.json")
        }
    }

    /// Property: on random rows (with NaN, infinities, -0, category codes, values at thresholds) the
    /// compiled evaluator agrees with the reference semantics of the trees, for every fixture model.
    @Test(
        "compiled forest agrees with the reference tree semantics on random rows",
        arguments: [
            "generated/xgb_logistic_cat.json", "generated/lgb_binary_cat.txt", "generated/lgb_zero_missing.txt",
            "generated/skl_gbc.onnx", "generated/lgb_multiclass_cat.txt", "reference/models/lgb_300_l63.txt",
        ])
    func compiledMatchesReference(_ file: String) throws {
        let forest = try Fixtures.load(Fixtures.path(file))
        var thresholds: [[Double]] = Array(repeating: [], count: forest.featureCount)
        for tree in forest.trees {
            for node in tree.nodes {
                if case .numeric(let f, let t, _, _) = node.split { thresholds[f].append(t) }
            }
        }
        var rng = SystemRandomNumberGenerator()
        let round = forest.info.arithmetic == .xgboost || forest.info.arithmetic == .onnxFloat
        for _ in 0..<300 {
            let row: [Double] = (0..<forest.featureCount).map { f in
                switch Int.random(in: 0..<10, using: &rng) {
                case 0: return .nan
                case 1: return [Double.infinity, -.infinity, -0.0, 0.0, 1e-36, -1e-36].randomElement(using: &rng)!
                case 2, 3, 4: return thresholds[f].randomElement(using: &rng).map { [$0, $0.nextUp, $0.nextDown].randomElement(using: &rng)! } ?? 0
                case 5: return Double(Int.random(in: -2...40, using: &rng))
                default: return Double.random(in: -100...3000, using: &rng)
                }
            }
            let x = round ? row.map { Double(Float($0)) } : row
            var expected = forest.info.baseMargins
            for tree in forest.trees {
                var n = tree.root
                while let _ = tree.nodes[n].split {
                    let node = tree.nodes[n]
                    n = node.goesLeft(x[node.split!.feature]) ? node.left : node.right
                }
                let leaf = tree.nodes[n]
                if leaf.outputs.isEmpty {
                    expected[tree.output] += leaf.value * tree.weight
                } else {
                    for e in leaf.outputs { expected[e.output] += e.value * tree.weight }
                }
            }
            let margins = forest.predict(row).margins
            for o in 0..<forest.outputCount {
                // XGBoost sums in float32, the reference here in double: allow float rounding only.
                let tolerance = forest.info.arithmetic == .xgboost ? 1e-4 : 1e-9
                #expect(abs(margins[o] - expected[o]) <= tolerance * max(1, abs(expected[o])), "row \(row)")
            }
        }
    }
}

import Foundation
import SwiftProtobuf
import Testing
@testable import VerdictForest
@testable import VerdictONNX

/// Crafted model files: every one is refused with an error naming the file, none traps the process.
///
/// Each case was a crash (SIGILL on overflow, SIGABRT on a huge allocation, SIGSEGV on runaway
/// recursion) before the readers checked file values before arithmetic and allocation. A regression
/// here kills the test process, which fails the run.
@Suite("Hostile model files")
struct HostileModelTests {
    // MARK: Minimal valid models (positive controls for the crafted variants)

    static let lightGBM = """
        tree
        version=v4
        num_class=1
        num_tree_per_iteration=1
        label_index=0
        max_feature_idx=1
        objective=binary sigmoid:1
        feature_names=a b
        tree_sizes=300

        Tree=0
        num_leaves=2
        num_cat=0
        split_feature=0
        split_gain=1
        threshold=0.5
        decision_type=2
        left_child=-1
        right_child=-2
        leaf_value=0.1 -0.2
        leaf_weight=1 1
        leaf_count=10 10
        internal_value=0
        internal_weight=2
        internal_count=20
        is_linear=0
        shrinkage=1


        end of trees

        """

    static let xgboost = """
        {"learner":{"attributes":{},"feature_names":[],"feature_types":[],
        "gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"1"},"iteration_indptr":[0,1],"tree_info":[0],
        "trees":[{"base_weights":[0,0.1,-0.2],"categories":[],"categories_nodes":[],"categories_segments":[],"categories_sizes":[],
        "default_left":[1,0,0],"id":0,"left_children":[1,-1,-1],"loss_changes":[1,0,0],"parents":[2147483647,0,0],"right_children":[2,-1,-1],
        "split_conditions":[0.5,0.1,-0.2],"split_indices":[0,0,0],"split_type":[0,0,0],"sum_hessian":[2,1,1],
        "tree_param":{"num_deleted":"0","num_feature":"2","num_nodes":"3","size_leaf_vector":"1"}}]},"name":"gbtree"},
        "learner_model_param":{"base_score":"[5E-1]","boost_from_average":"1","num_class":"0","num_feature":"2","num_target":"1"},
        "objective":{"name":"binary:logistic","reg_loss_param":{"scale_pos_weight":"1"}}},"version":[3,2,0]}
        """

    static let categoricalXGBoost =
        xgboost
        .replacingOccurrences(of: "\"split_type\":[0,0,0]", with: "\"split_type\":[1,0,0]")
        .replacingOccurrences(of: "\"categories\":[]", with: "\"categories\":[1,2]")
        .replacingOccurrences(of: "\"categories_nodes\":[]", with: "\"categories_nodes\":[0]")
        .replacingOccurrences(of: "\"categories_segments\":[]", with: "\"categories_segments\":[0]")
        .replacingOccurrences(of: "\"categories_sizes\":[]", with: "\"categories_sizes\":[2]")

    func lightGBM(_ text: String) throws(ForestError) -> Forest {
        try LightGBMReader.read(Array(text.utf8), name: "crafted.txt", sha256: "")
    }

    func xgboost(_ text: String) throws(ForestError) -> Forest {
        try XGBoostReader.read(Array(text.utf8), name: "crafted.json", binary: false, sha256: "")
    }

    func ubjson(_ bytes: [UInt8]) throws(ForestError) -> Forest {
        try XGBoostReader.read(bytes, name: "crafted.ubj", binary: true, sha256: "")
    }

    /// Refused, with the file named in the message and the words that say why.
    func expectRefused(_ words: String, _ load: () throws(ForestError) -> Forest, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let forest = try load()
            Issue.record("loaded a crafted model with \(forest.featureCount) features", sourceLocation: sourceLocation)
        } catch {
            #expect(error.message.contains("crafted"), "\(error.message)", sourceLocation: sourceLocation)
            #expect(error.message.contains(words), "\(error.message)", sourceLocation: sourceLocation)
        }
    }

    @Test("the minimal models load and score (so the crafted variants below fail for their own reason)")
    func controls() throws {
        #expect(try lightGBM(Self.lightGBM).predict([0, 0]).margins == [0.1])
        #expect(try xgboost(Self.xgboost).featureCount == 2)
        #expect(try xgboost(Self.categoricalXGBoost).featureCount == 2)
    }

    // MARK: LightGBM

    @Test(
        "LightGBM header counts beyond the limits are refused",
        arguments: [
            ("max_feature_idx=1", "max_feature_idx=9223372036854775807", "max_feature_idx"),
            ("max_feature_idx=1", "max_feature_idx=1099511627776", "max_feature_idx"),
            ("max_feature_idx=1", "max_feature_idx=-1", "max_feature_idx"),
            ("max_feature_idx=1", "max_feature_idx=99999999999999999999999", "max_feature_idx"),
            ("num_class=1", "num_class=1099511627776", "num_class"),
            ("num_tree_per_iteration=1", "num_tree_per_iteration=9223372036854775807", "num_tree_per_iteration"),
            ("num_tree_per_iteration=1", "num_tree_per_iteration=x", "num_tree_per_iteration"),
            ("left_child=-1", "left_child=-9223372036854775808", "child"),
            ("right_child=-2", "right_child=9223372036854775807", "child"),
            ("right_child=-2", "right_child=-3", "child"),
            ("num_cat=0", "num_cat=9223372036854775807", "num_cat"),
            ("num_leaves=2", "num_leaves=9223372036854775807", "leaf values"),
        ])
    func lightGBMHeaders(_ original: String, _ crafted: String, _ words: String) {
        let text = Self.lightGBM.replacingOccurrences(of: original, with: crafted)
        #expect(text != Self.lightGBM)
        expectRefused(words) { () throws(ForestError) in try lightGBM(text) }
    }

    // MARK: XGBoost JSON

    @Test(
        "XGBoost counts beyond the limits are refused",
        arguments: [
            ("\"num_feature\":\"2\",\"num_target\"", "\"num_feature\":\"1099511627776\",\"num_target\"", "num_feature"),
            ("\"num_feature\":\"2\",\"num_target\"", "\"num_feature\":9223372036854775807,\"num_target\"", "num_feature"),
            ("\"num_feature\":\"2\",\"num_target\"", "\"num_feature\":\"-5\",\"num_target\"", "num_feature"),
            ("\"num_class\":\"0\"", "\"num_class\":\"1099511627776\"", "num_class"),
            ("\"num_class\":\"0\"", "\"num_class\":\"9223372036854775807\"", "num_class"),
            ("\"left_children\":[1,-1,-1]", "\"left_children\":[-9223372036854775808,-1,-1]", "crafted"),
            ("\"split_indices\":[0,0,0]", "\"split_indices\":[4294967296,0,0]", "feature"),
        ])
    func xgboostCounts(_ original: String, _ crafted: String, _ words: String) {
        let text = Self.xgboost.replacingOccurrences(of: original, with: crafted)
        #expect(text != Self.xgboost)
        expectRefused(words) { () throws(ForestError) in try xgboost(text) }
    }

    @Test(
        "XGBoost category segments whose start plus size overflows are refused",
        arguments: [
            ("\"categories_segments\":[0]", "\"categories_segments\":[4000000000000000]"),
            ("\"categories_sizes\":[2]", "\"categories_sizes\":[4000000000000000]"),
            ("\"categories_segments\":[0]", "\"categories_segments\":[-1]"),
        ])
    func xgboostSegments(_ original: String, _ crafted: String) {
        let text = Self.categoricalXGBoost.replacingOccurrences(of: original, with: crafted)
        #expect(text != Self.categoricalXGBoost)
        expectRefused("category segment") { () throws(ForestError) in try xgboost(text) }
    }

    @Test("UBJSON's 64-bit category segments cannot overflow start plus size")
    func ubjsonSegments() {
        let segment = ("\"categories_segments\":[0]", "\"categories_segments\":[9223372036854775000]")
        let size = ("\"categories_sizes\":[2]", "\"categories_sizes\":[9223372036854775000]")
        for edits in [[segment], [size], [segment, size]] {
            let text = edits.reduce(Self.categoricalXGBoost) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
            let bytes = Self.ubjson(text)
            expectRefused("category segment") { () throws(ForestError) in try ubjson(bytes) }
        }
        #expect(throws: Never.self) { _ = try ubjson(Self.ubjson(Self.categoricalXGBoost)) }
    }

    @Test("JSON nested far deeper than a model is refused, not recursed into")
    func deepJSON() {
        let text = String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000)
        expectRefused("nesting") { () throws(ForestError) in try xgboost(text) }
    }

    // MARK: UBJSON

    /// The minimal model as UBJSON: XGBoost's own encoding of the JSON above.
    static var xgboostUBJSON: [UInt8] { ubjson(xgboost) }

    static func ubjson(_ json: String) -> [UInt8] {
        var out: [UInt8] = []
        func string(_ s: String) {
            let utf8 = Array(s.utf8)
            out.append(UInt8(ascii: "L"))
            withUnsafeBytes(of: Int64(utf8.count).bigEndian) { out.append(contentsOf: $0) }
            out.append(contentsOf: utf8)
        }
        func value(_ v: Any) {
            switch v {
            case let s as String: out.append(UInt8(ascii: "S")); string(s)
            case let n as NSNumber:
                if n.doubleValue != n.doubleValue.rounded() {
                    out.append(UInt8(ascii: "d"))
                    withUnsafeBytes(of: Float(n.doubleValue).bitPattern.bigEndian) { out.append(contentsOf: $0) }
                } else {
                    out.append(UInt8(ascii: "L"))
                    withUnsafeBytes(of: n.int64Value.bigEndian) { out.append(contentsOf: $0) }
                }
            case let a as [NSNumber] where !a.isEmpty && a.allSatisfy({ $0.doubleValue == $0.doubleValue.rounded() }):
                // Integer arrays typed, as XGBoost writes them: they keep their full 64-bit values.
                out.append(contentsOf: Array("[$L#L".utf8))
                withUnsafeBytes(of: Int64(a.count).bigEndian) { out.append(contentsOf: $0) }
                for n in a { withUnsafeBytes(of: n.int64Value.bigEndian) { out.append(contentsOf: $0) } }
            case let a as [Any]:
                out.append(UInt8(ascii: "["))
                a.forEach(value)
                out.append(UInt8(ascii: "]"))
            case let d as [String: Any]:
                out.append(UInt8(ascii: "{"))
                for (k, v) in d.sorted(by: { $0.key < $1.key }) { string(k); value(v) }
                out.append(UInt8(ascii: "}"))
            default: out.append(UInt8(ascii: "Z"))
            }
        }
        value(try! JSONSerialization.jsonObject(with: Data(json.utf8)))
        return out
    }

    @Test("the UBJSON control loads")
    func ubjsonControl() throws {
        #expect(try ubjson(Self.xgboostUBJSON).featureCount == 2)
    }

    @Test("a long run of UBJSON no-op markers is passed over in a loop, before the model and between elements")
    func ubjsonNoOps() throws {
        let run = [UInt8](repeating: UInt8(ascii: "N"), count: 300_000)
        #expect(try ubjson(run + Self.xgboostUBJSON).featureCount == 2)
        // A file of nothing but no-ops has no model in it.
        expectRefused("crafted") { () throws(ForestError) in try ubjson(run) }
        // Inside an array: `[` N... `]` is an empty array, and the reader says the learner is missing.
        expectRefused("learner") { () throws(ForestError) in try ubjson(Array("{}".utf8)) }
        let array = [UInt8(ascii: "[")] + run + [UInt8(ascii: "]")]
        expectRefused("learner") { () throws(ForestError) in try ubjson(array) }
    }

    @Test("UBJSON containers count toward the depth limit, and zero-byte typed containers are refused")
    func ubjsonContainers() {
        let deep = [UInt8](repeating: UInt8(ascii: "["), count: 300_000)
        expectRefused("nesting") { () throws(ForestError) in try ubjson(deep) }
        let typedDeep = Array(repeating: Array("[$[#U\u{01}".utf8), count: 50_000).flatMap { $0 }
        expectRefused("nesting") { () throws(ForestError) in try ubjson(typedDeep) }
        for marker in ["Z", "N", "T", "F"] {
            var bytes = Array("[$\(marker)#L".utf8)
            withUnsafeBytes(of: Int64(1 << 40).bigEndian) { bytes.append(contentsOf: $0) }
            expectRefused("zero-byte") { () throws(ForestError) in try ubjson(bytes) }
        }
        var huge = Array("[$d#L".utf8)
        withUnsafeBytes(of: Int64.max.bigEndian) { huge.append(contentsOf: $0) }
        huge += [UInt8](repeating: 0, count: 64)
        expectRefused("exceeds the file") { () throws(ForestError) in try ubjson(huge) }
        var string = Array("SL".utf8)
        withUnsafeBytes(of: Int64.min.bigEndian) { string.append(contentsOf: $0) }
        string += [UInt8](repeating: 0, count: 64)
        expectRefused("exceeds the file") { () throws(ForestError) in try ubjson(string) }
    }

    // MARK: ONNX

    static func onnx(_ edit: (inout Onnx_ModelProto) -> Void) throws -> [UInt8] {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("generated/skl_rf_regressor.onnx")))
        var model = try Onnx_ModelProto(serializedBytes: bytes)
        edit(&model)
        return try [UInt8](model.serializedData())
    }

    static func setAttribute(_ model: inout Onnx_ModelProto, _ name: String, _ value: Int64) {
        let index = model.graph.node.firstIndex { $0.opType == "TreeEnsembleRegressor" }!
        if let a = model.graph.node[index].attribute.firstIndex(where: { $0.name == name }) {
            model.graph.node[index].attribute[a].i = value
        } else {
            var attribute = Onnx_AttributeProto()
            attribute.name = name
            attribute.i = value
            attribute.type = .int
            model.graph.node[index].attribute.append(attribute)
        }
    }

    static func setInts(_ model: inout Onnx_ModelProto, _ name: String, first value: Int64) {
        let index = model.graph.node.firstIndex { $0.opType == "TreeEnsembleRegressor" }!
        let a = model.graph.node[index].attribute.firstIndex(where: { $0.name == name })!
        model.graph.node[index].attribute[a].ints[0] = value
    }

    @Test("ONNX counts beyond the limits are refused")
    func onnxCounts() throws {
        let control = try Self.onnx { _ in }
        #expect(try ONNXReader.read(control, name: "crafted.onnx", sha256: "").featureCount > 0)
        let cases: [(String, [UInt8])] = [
            ("n_targets", try Self.onnx { Self.setAttribute(&$0, "n_targets", 1 << 40) }),
            ("n_targets", try Self.onnx { Self.setAttribute(&$0, "n_targets", .max) }),
            ("n_targets", try Self.onnx { Self.setAttribute(&$0, "n_targets", -3) }),
            ("dimension", try Self.onnx { $0.graph.input[0].type.tensorType.shape.dim[1].dimValue = 1 << 40 }),
            ("dimension", try Self.onnx { $0.graph.input[0].type.tensorType.shape.dim[1].dimValue = .max }),
            (
                "featureids",
                try Self.onnx {
                    $0.graph.input[0].type.tensorType.shape.dim[1].dimValue = 0
                    Self.setInts(&$0, "nodes_featureids", first: .max)
                }
            ),
        ]
        for (words, bytes) in cases {
            expectRefused(words) { () throws(ForestError) in try ONNXReader.read(bytes, name: "crafted.onnx", sha256: "") }
        }
        let noTargets = try Self.onnx {
            let index = $0.graph.node.firstIndex { $0.opType == "TreeEnsembleRegressor" }!
            $0.graph.node[index].attribute.removeAll { $0.name == "n_targets" }
            let a = $0.graph.node[index].attribute.firstIndex(where: { $0.name == "target_ids" })!
            $0.graph.node[index].attribute[a].ints[0] = .max
        }
        expectRefused("target_ids") { () throws(ForestError) in try ONNXReader.read(noTargets, name: "crafted.onnx", sha256: "") }
    }

    // MARK: Files

    func temporaryFile(_ bytes: [UInt8], name: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("verdict-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("a file over model.max_file_bytes is refused before it is read, with the size, the cap and no directory")
    func fileSizeCap() throws {
        let path = try temporaryFile(Array(Self.xgboost.utf8), name: "crafted.json")
        let limits = ModelLimits(maxFileBytes: 100)
        #expect { _ = try ModelLoader.loadAnyFormat(ModelLoadRequest(path: path, limits: limits)) } throws: { error in
            let message = (error as? ForestError)?.message ?? ""
            return message.contains("model.max_file_bytes") && message.contains("100") && !message.contains(FileManager.default.temporaryDirectory.path)
        }
        #expect(try ModelLoader.loadAnyFormat(ModelLoadRequest(path: path)).featureCount == 2)
    }

    @Test("with an expected sha256 a different file is refused without being parsed")
    func hashBeforeParse() throws {
        // A file the parser would refuse for its nesting: the refusal must be the hash's, so the
        // parser never ran.
        let bytes = Array(String(repeating: "[", count: 300_000).utf8)
        let path = try temporaryFile(bytes, name: "crafted.json")
        let card = String(repeating: "0", count: 64)
        #expect { _ = try ModelLoader.loadAnyFormat(ModelLoadRequest(path: path, expectedSHA256: card)) } throws: { error in
            let message = (error as? ForestError)?.message ?? ""
            return message.contains("does not match the card") && message.contains("not parsed") && !message.contains("nesting")
        }
        let good = try temporaryFile(Array(Self.xgboost.utf8), name: "good.json")
        let sha = SHA256.hex(Array(Self.xgboost.utf8))
        #expect(try ModelLoader.loadAnyFormat(ModelLoadRequest(path: good, expectedSHA256: sha.uppercased())).sha256 == sha)
    }

    @Test("random byte mutations of the minimal models never trap")
    func mutations() {
        var rng = SystemRandomNumberGenerator()
        let sources: [(String, [UInt8])] = [
            ("crafted.txt", Array(Self.lightGBM.utf8)), ("crafted.json", Array(Self.xgboost.utf8)), ("crafted.ubj", Self.xgboostUBJSON),
        ]
        for (name, original) in sources {
            for _ in 0..<300 {
                var bytes = original
                for _ in 0..<Int.random(in: 1...6, using: &rng) {
                    let position = Int.random(in: 0..<bytes.count, using: &rng)
                    // Digits and big-endian length bytes are where the interesting integers live.
                    bytes[position] = Bool.random(using: &rng) ? UInt8.random(in: 0x30...0x39, using: &rng) : UInt8.random(in: 0...255, using: &rng)
                }
                do {
                    let forest: Forest
                    switch name {
                    case "crafted.txt": forest = try LightGBMReader.read(bytes, name: name, sha256: "")
                    default: forest = try XGBoostReader.read(bytes, name: name, binary: name.hasSuffix(".ubj"), sha256: "")
                    }
                    #expect(forest.predict([Double](repeating: 0.3, count: forest.featureCount)).margins.allSatisfy { !$0.isNaN })
                } catch {
                    #expect(error.message.contains(name))
                }
            }
        }
    }
}

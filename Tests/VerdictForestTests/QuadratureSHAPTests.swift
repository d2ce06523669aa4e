import Foundation
import Testing
@testable import VerdictForest

/// Quadrature TreeSHAP gives the same contributions as the per-leaf closed forms and as Lundberg's
/// recursive algorithm, and takes exactly the trees it can be exact on.
@Suite("Quadrature TreeSHAP")
struct QuadratureSHAPTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var model: String
        var rows: String
        var testDescription: String { model }
    }

    static let cases: [Case] = [
        Case(model: "reference/models/xgb_d6_300.json", rows: "reference"),
        Case(model: "reference/models/lgb_300_l63.txt", rows: "reference"),
        Case(model: "reference/models/xgb_multi3_100.json", rows: "reference"),
        Case(model: "default", rows: "card"),
        Case(model: "generated/xgb_deep_1000.ubj", rows: "generated"),
        Case(model: "generated/xgb_logistic_cat.json", rows: "generated"),
        Case(model: "generated/xgb_softprob_cat.json", rows: "generated"),
        Case(model: "generated/xgb_squarederror.json", rows: "generated"),
        Case(model: "generated/xgb_logitraw.json", rows: "generated"),
        Case(model: "generated/xgb_reg_logistic.json", rows: "generated"),
        Case(model: "generated/xgb_softmax.json", rows: "generated"),
        Case(model: "generated/lgb_binary_cat.txt", rows: "generated"),
        Case(model: "generated/lgb_multiclass.txt", rows: "generated"),
        Case(model: "generated/lgb_multiclass_cat.txt", rows: "generated"),
        Case(model: "generated/lgb_regression.txt", rows: "generated"),
        Case(model: "generated/lgb_zero_missing.txt", rows: "generated"),
    ]

    static func forest(_ model: String) throws -> Forest {
        if model == "default" {
            return try Fixtures.load(Fixtures.projectRoot.appendingPathComponent("models/verdict-fraud/1.0.0/model.ubj").path)
        }
        return try Fixtures.load(Fixtures.path(model))
    }

    static func rows(_ source: String) throws -> [[Double]] {
        switch source {
        case "reference": return try Fixtures.table(Fixtures.reference.appendingPathComponent("data/test_rows.csv").path).rows
        case "card":
            // The default model's card carries golden vectors in model order (null = missing).
            let card = Fixtures.projectRoot.appendingPathComponent("models/verdict-fraud/1.0.0/card.json")
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: card)) as? [String: Any]
            let vectors = try #require(json?["golden_vectors"] as? [[String: Any]])
            return vectors.compactMap { ($0["features"] as? [Any])?.map { ($0 as? Double) ?? .nan } }
        default: return try Fixtures.table(Fixtures.path("generated/rows.csv")).rows
        }
    }

    /// Largest difference relative to the contributions' scale (1 for values below 1).
    static func worst(_ a: [[Double]], _ b: [[Double]]) -> Double {
        var worst = 0.0
        for (x, y) in zip(a.flatMap { $0 }, b.flatMap { $0 }) {
            worst = max(worst, abs(x - y) / max(1, abs(y)))
        }
        return worst
    }

    @Test("agrees with path decomposition (40 rows) and the recursive algorithm (8 rows) to 1e-12 on every fixture", arguments: cases)
    func agreesWithExactMethods(_ c: Case) throws {
        let forest = try Self.forest(c.model)
        let rows = try Self.rows(c.rows)
        let plan = try #require(forest.explanationPlan)
        #expect(plan.quadrature2 + plan.quadrature4 + plan.quadrature8 == forest.trees.count, "\(c.model): \(plan)")
        // Rows enough to cover missing values and every branch side; the recursive reference is
        // slow in debug builds, so it checks fewer (this suite runs beside the integration tests).
        var againstTable = 0.0, againstRecursive = 0.0
        for (index, row) in rows.prefix(40).enumerated() {
            let quadrature = try forest.contributions(row)
            againstTable = max(againstTable, Self.worst(quadrature, try forest.contributions(row, method: .pathDecomposition)))
            if index < 8 {
                againstRecursive = max(againstRecursive, Self.worst(quadrature, try forest.contributions(row, method: .recursive)))
            }
        }
        #expect(againstTable <= 1e-12, "\(c.model): max relative |Δ| against path decomposition \(againstTable)")
        #expect(againstRecursive <= 1e-12, "\(c.model): max relative |Δ| against the recursive algorithm \(againstRecursive)")
    }

    /// A tree splitting on `depth` distinct features one after another (a chain with a leaf on
    /// every right branch), then once more on the first feature.
    static func chain(depth: Int, zeroCoverAt: Int? = nil) -> DecisionTree {
        var nodes: [DecisionNode] = []
        var cover = 1024.0
        for level in 0..<depth {
            let next = nodes.count + 2
            let leftCover = zeroCoverAt == level ? 0 : cover * 0.6
            nodes.append(
                .split(
                    .numeric(feature: level, threshold: 0.5, comparison: .less, missing: .left),
                    left: next, right: nodes.count + 1, cover: cover))
            nodes.append(.leaf(Double(level) * 0.1 - 0.3, cover: cover - leftCover))
            cover = leftCover
        }
        nodes.append(
            .split(
                .numeric(feature: 0, threshold: 0.25, comparison: .less, missing: .left),
                left: nodes.count + 1, right: nodes.count + 2, cover: cover))
        nodes.append(.leaf(0.7, cover: cover * 0.3))
        nodes.append(.leaf(-0.4, cover: cover * 0.7))
        return DecisionTree(nodes: nodes)
    }

    static func forest(of trees: [DecisionTree], features: Int) throws -> Forest {
        let info = ModelInfo(
            format: .lightgbmText, source: "chain", objective: "regression", producer: "test", outputCount: 1,
            classLabels: [], featureNames: (0..<features).map { "f\($0)" }, transform: .identity, sigmoidScale: 1,
            baseMargins: [0.5], averageTrees: false, arithmetic: .lightgbm, isBinaryClassifier: false, isClassifier: false)
        return try Forest(info: info, trees: trees, sha256: "")
    }

    @Test("takes paths of up to 4 distinct features with 2 points, up to 8 with 4, up to 16 with 8, and leaves the rest and zero covers to path decomposition")
    func choosesTheRuleByDistinctFeatures() throws {
        let trees = [
            Self.chain(depth: 1), Self.chain(depth: 4), Self.chain(depth: 5), Self.chain(depth: 8), Self.chain(depth: 9), Self.chain(depth: 16),
            Self.chain(depth: 17), Self.chain(depth: 5, zeroCoverAt: 2),
        ]
        let forest = try Self.forest(of: trees, features: 17)
        #expect(forest.explanationPlan == ExplanationPlan(quadrature2: 2, quadrature4: 2, quadrature8: 2, pathDecomposition: 2, recursive: 0))
        // Rows that follow and leave the chain at every level, missing values included.
        var rows: [[Double]] = []
        for exit in 0...17 {
            rows.append((0..<17).map { $0 < exit ? 0.1 : 0.9 })
            rows.append((0..<17).map { $0 < exit ? .nan : ($0 == exit ? 0.9 : 0.2) })
        }
        for row in rows {
            let quadrature = try forest.contributions(row)
            let recursive = try forest.contributions(row, method: .recursive)
            #expect(Self.worst(quadrature, recursive) <= 1e-12, "row \(row)")
            let margin = forest.predict(row).margins[0]
            #expect(abs(quadrature[0].reduce(0, +) - margin) <= 1e-12)
        }
    }

    @Test("an output with no trees gets its base margin as bias and no contributions, not a crash")
    func outputWithoutTrees() throws {
        let info = ModelInfo(
            format: .lightgbmText, source: "chain", objective: "regression", producer: "test", outputCount: 2,
            classLabels: [], featureNames: (0..<5).map { "f\($0)" }, transform: .identity, sigmoidScale: 1,
            baseMargins: [0.5, 0.25], averageTrees: false, arithmetic: .lightgbm, isBinaryClassifier: false, isClassifier: false)
        let forest = try Forest(info: info, trees: [Self.chain(depth: 5)], sha256: "")
        let row = [0.1, 0.9, 0.1, 0.9, 0.1]
        let phi = try forest.contributions(row)
        #expect(phi.count == 2)
        #expect(phi[1] == [0, 0, 0, 0, 0, 0.25])
        #expect(abs(phi[0].reduce(0, +) - forest.predict(row).margins[0]) <= 1e-12)
    }

    @Test("Gauss-Legendre rules integrate polynomials up to degree 2Q - 1 exactly on [0, 1]")
    func quadratureRulesAreExact() {
        for q in [2, 4, 8] {
            let rule = GaussLegendre(points: q)
            #expect(abs(rule.weights.reduce(0, +) - 1) <= 1e-15)
            for degree in 0..<(2 * q) {
                let integral = zip(rule.nodes, rule.weights).reduce(0.0) { $0 + $1.1 * pow($1.0, Double(degree)) }
                #expect(abs(integral - 1 / Double(degree + 1)) <= 1e-15, "Q = \(q), degree \(degree)")
            }
        }
    }
}

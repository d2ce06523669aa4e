import Foundation
import Testing
import VerdictForest

/// The project's own fixtures (training/fixtures/make_forest_fixtures.py): categorical splits,
/// every objective, LightGBM multiclass, a 1000-tree depth-8 forest, rows that are mostly missing,
/// ONNX exports of other scikit-learn ensembles, and TreeSHAP contributions.
@Suite("Parity with generated fixtures")
struct GeneratedParityTests {
    static let rows = try! Fixtures.table(Fixtures.path("generated/rows.csv"))

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var file: String
        /// Largest |Δ| allowed on margins (nil: not compared).
        var marginTolerance: Double?
        var outputTolerance: Double = 1e-6
        var rows: String = "rows.csv"
        /// Compare relative to the value's magnitude (regression outputs).
        var relative = false
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "xgb_logistic_cat", file: "xgb_logistic_cat.json", marginTolerance: 0),
        Case(name: "xgb_logistic_cat", file: "xgb_logistic_cat.ubj", marginTolerance: 0),
        Case(name: "xgb_logitraw", file: "xgb_logitraw.json", marginTolerance: 0),
        Case(name: "xgb_reg_logistic", file: "xgb_reg_logistic.json", marginTolerance: 0),
        Case(name: "xgb_squarederror", file: "xgb_squarederror.json", marginTolerance: 0),
        Case(name: "xgb_softmax", file: "xgb_softmax.json", marginTolerance: 0),
        Case(name: "xgb_softprob_cat", file: "xgb_softprob_cat.json", marginTolerance: 0),
        Case(name: "xgb_deep_1000", file: "xgb_deep_1000.ubj", marginTolerance: 0),
        Case(name: "lgb_binary_cat", file: "lgb_binary_cat.txt", marginTolerance: 1e-9),
        Case(name: "lgb_multiclass", file: "lgb_multiclass.txt", marginTolerance: 1e-9),
        Case(name: "lgb_multiclass_cat", file: "lgb_multiclass_cat.txt", marginTolerance: 1e-9),
        Case(name: "lgb_regression", file: "lgb_regression.txt", marginTolerance: 1e-9, relative: true),
        Case(name: "lgb_zero_missing", file: "lgb_zero_missing.txt", marginTolerance: 1e-9),
        Case(name: "skl_gbc", file: "skl_gbc.onnx", marginTolerance: nil, rows: "skl_gbc.rows.csv"),
        Case(name: "skl_extratrees_multi", file: "skl_extratrees_multi.onnx", marginTolerance: nil, rows: "skl_extratrees_multi.rows.csv"),
        Case(name: "skl_rf_regressor", file: "skl_rf_regressor.onnx", marginTolerance: nil, rows: "skl_rf_regressor.rows.csv", relative: true),
    ]

    @Test("predictions match the training library on every row", arguments: cases)
    func parity(_ c: Case) throws {
        let forest = try Fixtures.load(Fixtures.path("generated/\(c.file)"))
        let rows = c.rows == "rows.csv" ? Self.rows : try Fixtures.table(Fixtures.path("generated/\(c.rows)"))
        let golden = try Fixtures.table(Fixtures.path("generated/\(c.name).golden.csv"))
        let k = forest.outputCount
        #expect(golden.header.count == 2 * k, "golden has \(golden.header.count / 2) outputs, the model \(k)")
        var worstMargin = 0.0
        var worstOutput = 0.0
        for (index, row) in rows.rows.enumerated() {
            let p = forest.predict(row)
            for o in 0..<k {
                let scale = c.relative ? max(1, abs(golden.rows[index][k + o])) : 1
                worstMargin = max(worstMargin, abs(p.margins[o] - golden.rows[index][o]) / scale)
                worstOutput = max(worstOutput, abs(p.outputs[o] - golden.rows[index][k + o]) / scale)
            }
        }
        if let tolerance = c.marginTolerance { #expect(worstMargin <= tolerance, "\(c.file): margin max |Δ| \(worstMargin)") }
        #expect(worstOutput <= c.outputTolerance, "\(c.file): output max |Δ| \(worstOutput)")
    }

    @Test("the batch path (interleaved, blocked, threaded) gives exactly the single-row results", arguments: cases)
    func batchEqualsSingle(_ c: Case) throws {
        let forest = try Fixtures.load(Fixtures.path("generated/\(c.file)"))
        let rows = c.rows == "rows.csv" ? Self.rows : try Fixtures.table(Fixtures.path("generated/\(c.rows)"))
        let k = forest.outputCount
        let flat = rows.flat
        var margins = [Double](repeating: .nan, count: rows.rows.count * k)
        var outputs = [Double](repeating: .nan, count: rows.rows.count * k)
        let pool = ForestWorkerPool(threads: 2)
        defer { pool.shutdown() }
        flat.withUnsafeBufferPointer { input in
            margins.withUnsafeMutableBufferPointer { m in
                outputs.withUnsafeMutableBufferPointer { o in forest.predictBatch(rows: input, margins: m, outputs: o, pool: pool) }
            }
        }
        for (index, row) in rows.rows.enumerated() {
            let single = forest.predict(row)
            #expect(Array(margins[(index * k)..<((index + 1) * k)]) == single.margins, "row \(index)")
            #expect(Array(outputs[(index * k)..<((index + 1) * k)]) == single.outputs, "row \(index)")
        }
    }

    struct ContributionCase: Sendable, CustomTestStringConvertible {
        var model: String
        var golden: String
        var rows: String
        var testDescription: String { model }
    }

    static let contributionCases: [ContributionCase] = [
        ContributionCase(model: "reference/models/xgb_d6_300.json", golden: "generated/xgb_d6_300.contribs.csv", rows: "reference"),
        ContributionCase(model: "reference/models/lgb_300_l63.txt", golden: "generated/lgb_300_l63.contribs.csv", rows: "reference"),
        ContributionCase(model: "generated/xgb_logistic_cat.json", golden: "generated/xgb_logistic_cat.contribs.csv", rows: "generated"),
        ContributionCase(model: "generated/xgb_softprob_cat.json", golden: "generated/xgb_softprob_cat.contribs.csv", rows: "generated"),
        ContributionCase(model: "generated/xgb_squarederror.json", golden: "generated/xgb_squarederror.contribs.csv", rows: "generated"),
        ContributionCase(model: "generated/lgb_binary_cat.txt", golden: "generated/lgb_binary_cat.contribs.csv", rows: "generated"),
        ContributionCase(model: "generated/lgb_multiclass.txt", golden: "generated/lgb_multiclass.contribs.csv", rows: "generated"),
        ContributionCase(model: "generated/lgb_zero_missing.txt", golden: "generated/lgb_zero_missing.contribs.csv", rows: "generated"),
    ]

    @Test("TreeSHAP contributions match pred_contribs / pred_contrib to 1e-5 and sum to the margin", arguments: contributionCases)
    func contributions(_ c: ContributionCase) throws {
        let forest = try Fixtures.load(Fixtures.path(c.model))
        let rows =
            c.rows == "reference"
            ? try Fixtures.table(Fixtures.reference.appendingPathComponent("data/test_rows.csv").path)
            : Self.rows
        let golden = try Fixtures.table(Fixtures.path(c.golden))
        var worst = 0.0
        var worstSum = 0.0
        for (index, expected) in golden.rows.enumerated() {
            let phi = try forest.contributions(rows.rows[index])
            let flat = phi.flatMap { $0 }
            #expect(flat.count == expected.count)
            for (a, b) in zip(flat, expected) { worst = max(worst, abs(a - b)) }
            let margins = forest.predict(rows.rows[index]).margins
            for (o, contributions) in phi.enumerated() {
                worstSum = max(worstSum, abs(contributions.reduce(0, +) - margins[o]))
            }
        }
        #expect(worst <= 1e-5, "\(c.model): contributions max |Δ| \(worst)")
        #expect(worstSum <= 1e-4, "\(c.model): contributions do not add up to the margin (max |Δ| \(worstSum))")
    }
}

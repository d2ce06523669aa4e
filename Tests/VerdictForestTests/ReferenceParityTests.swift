import Foundation
import Testing
import VerdictForest

/// Every model in the shared reference set reproduces its library's own predictions on every row.
@Suite("Parity with the reference models")
struct ReferenceParityTests {
    static let rows: Fixtures.Table = try! Fixtures.table(Fixtures.reference.appendingPathComponent("data/test_rows.csv").path)

    func check(_ model: String, file: String, tolerance: Double = 1e-6, marginTolerance: Double? = nil) throws {
        let forest = try Fixtures.load(Fixtures.reference.appendingPathComponent("models/\(file)").path)
        let golden = try Fixtures.table(Fixtures.reference.appendingPathComponent("golden/\(model).csv").path)
        #expect(forest.featureCount == Self.rows.header.count)
        let k = forest.outputCount
        var worst = 0.0
        var worstMargin = 0.0
        for (index, row) in Self.rows.rows.enumerated() {
            let prediction = forest.predict(row)
            let expected = golden.rows[index]
            if k == 1 {
                let probability = golden.column("prob")![index]
                worst = max(worst, abs(prediction.outputs[0] - probability))
                if let margin = golden.column("margin")?[index] { worstMargin = max(worstMargin, abs(prediction.margins[0] - margin)) }
            } else {
                for c in 0..<k {
                    worstMargin = max(worstMargin, abs(prediction.margins[c] - expected[c]))
                    worst = max(worst, abs(prediction.outputs[c] - expected[k + c]))
                }
            }
        }
        #expect(worst <= tolerance, "\(model): max |Δ| probability \(worst)")
        if let marginTolerance { #expect(worstMargin <= marginTolerance, "\(model): max |Δ| margin \(worstMargin)") }
    }

    @Test("xgb_d6_300 (XGBoost JSON): probabilities within 1e-6, margins bit-exact")
    func xgboostJSON() throws { try check("xgb_d6_300", file: "xgb_d6_300.json", marginTolerance: 0) }

    @Test("xgb_d6_300 (XGBoost UBJSON): the same model, the same numbers")
    func xgboostUBJSON() throws { try check("xgb_d6_300", file: "xgb_d6_300.ubj", marginTolerance: 0) }

    @Test("xgb_multi3_100 (XGBoost multi:softprob): per-class margins bit-exact")
    func xgboostMulticlass() throws { try check("xgb_multi3_100", file: "xgb_multi3_100.json", marginTolerance: 0) }

    @Test("rf_100_d12 (scikit-learn RandomForest via ONNX)")
    func onnxRandomForest() throws { try check("rf_100_d12", file: "rf_100_d12.onnx") }

    @Test("lgb_300_l63 (LightGBM binary)")
    func lightgbm() throws { try check("lgb_300_l63", file: "lgb_300_l63.txt", marginTolerance: 1e-9) }
}

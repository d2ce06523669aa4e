#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension ModelInfo {
    /// Turns margins into the outputs the training library reports, with its arithmetic.
    func applyTransform(margins: UnsafePointer<Double>, outputs: UnsafeMutablePointer<Double>) {
        let count = outputCount
        switch transform {
        case .identity:
            outputs.update(from: margins, count: count)
        case .exponential:
            for k in 0..<count { outputs[k] = exp(margins[k]) }
        case .sigmoid:
            for k in 0..<count {
                if arithmetic == .xgboost {
                    outputs[k] = Double(Self.xgboostSigmoid(Float(margins[k])))
                } else {
                    outputs[k] = 1.0 / (1.0 + exp(-sigmoidScale * margins[k]))
                }
            }
        case .softmax:
            if arithmetic == .xgboost {
                Self.xgboostSoftmax(margins, outputs, count)
            } else {
                var maximum = margins[0]
                for k in 1..<count { maximum = max(maximum, margins[k]) }
                var sum = 0.0
                for k in 0..<count {
                    outputs[k] = exp(margins[k] - maximum)
                    sum += outputs[k]
                }
                for k in 0..<count { outputs[k] /= sum }
            }
        case .softmaxZero:
            // ONNX SOFTMAX_ZERO: zero scores stay zero and take no share.
            var maximum = -Double.infinity
            for k in 0..<count where margins[k] != 0 { maximum = max(maximum, margins[k]) }
            var sum = 0.0
            for k in 0..<count {
                outputs[k] = margins[k] == 0 ? 0 : exp(margins[k] - maximum)
                sum += outputs[k]
            }
            if sum > 0 { for k in 0..<count { outputs[k] /= sum } }
        }
    }

    /// XGBoost's `common::Sigmoid` in float32.
    @inline(__always)
    static func xgboostSigmoid(_ x: Float) -> Float {
        let clamped = min(-x, 88.7)
        let denominator = expf(clamped) + 1.0 + 1e-16
        return 1.0 / denominator
    }

    /// XGBoost's `common::Softmax`: float32 exponentials, a double sum, float32 division.
    static func xgboostSoftmax(_ margins: UnsafePointer<Double>, _ outputs: UnsafeMutablePointer<Double>, _ count: Int) {
        var maximum = Float(margins[0])
        for k in 1..<count { maximum = fmaxf(Float(margins[k]), maximum) }
        var sum = 0.0
        withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { values in
            for k in 0..<count {
                values[k] = expf(Float(margins[k]) - maximum)
                sum += Double(values[k])
            }
            for k in 0..<count { outputs[k] = Double(values[k] / Float(sum)) }
        }
    }
}

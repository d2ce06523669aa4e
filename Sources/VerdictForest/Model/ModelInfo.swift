/// Where a model came from.
public enum ModelFormat: String, Sendable, Hashable {
    case xgboostJSON = "xgboost-json"
    case xgboostUBJSON = "xgboost-ubjson"
    case lightgbmText = "lightgbm-text"
    case onnx = "onnx"
}

/// How raw tree sums (margins) become the outputs the training library reports.
public enum OutputTransform: String, Sendable, Hashable {
    /// The margin is the output (regression, `binary:logitraw`).
    case identity
    /// Logistic sigmoid of the margin (binary classification).
    case sigmoid
    /// Softmax across outputs (multiclass).
    case softmax
    /// ONNX SOFTMAX_ZERO: softmax that leaves zero scores at zero.
    case softmaxZero
    /// exp of the margin (Poisson, Gamma, Tweedie regression).
    case exponential
}

/// The arithmetic a model must be evaluated with to reproduce its library bit for bit.
public enum Arithmetic: String, Sendable, Hashable {
    /// XGBoost: inputs cast to float32, `x < threshold` in float32, margins accumulated in float32
    /// in tree order from the base margin; sigmoid and softmax in float32.
    case xgboost
    /// LightGBM: double inputs and thresholds, margins accumulated in double; transforms in double.
    case lightgbm
    /// ONNX Runtime (float thresholds): inputs cast to float32, thresholds float32, scores in double.
    case onnxFloat
    /// ONNX with `*_as_tensor` double thresholds: inputs and thresholds in double.
    case onnxDouble
}

/// What a model is, beyond its trees.
public struct ModelInfo: Sendable, Hashable {
    public var format: ModelFormat
    /// The file name the model was read from.
    public var source: String
    /// The library's objective name (e.g. `binary:logistic`, `binary sigmoid:1`, `TreeEnsembleClassifier`).
    public var objective: String
    /// The library that wrote the file and its version, when recorded.
    public var producer: String
    /// Number of outputs: 1 for binary and regression, the class count for multiclass.
    public var outputCount: Int
    /// Class labels for classifiers (index = output), when known.
    public var classLabels: [String]
    /// Feature names in model order; `f0`, `f1`, ... when the file has none.
    public var featureNames: [String]
    public var transform: OutputTransform
    /// Scale inside the sigmoid (LightGBM's `sigmoid:` parameter); 1 otherwise.
    public var sigmoidScale: Double
    /// Added to each output's margin before the trees (XGBoost base margin, ONNX base values).
    public var baseMargins: [Double]
    /// The margin is divided by the number of trees per output (random forests: LightGBM
    /// `average_output`, ONNX `aggregate_function=AVERAGE`).
    public var averageTrees: Bool
    public var arithmetic: Arithmetic
    /// Binary classifier that reports P(positive) as one output (XGBoost binary, LightGBM binary,
    /// ONNX binary with one weighted class).
    public var isBinaryClassifier: Bool
    /// For multiclass: the predicted class is the argmax (XGBoost `multi:softmax` reports it alone).
    public var isClassifier: Bool

    public var featureCount: Int { featureNames.count }

    /// Describes a model; readers build this from the file's metadata.
    public init(
        format: ModelFormat, source: String, objective: String, producer: String, outputCount: Int,
        classLabels: [String], featureNames: [String], transform: OutputTransform, sigmoidScale: Double,
        baseMargins: [Double], averageTrees: Bool, arithmetic: Arithmetic, isBinaryClassifier: Bool, isClassifier: Bool
    ) {
        self.format = format
        self.source = source
        self.objective = objective
        self.producer = producer
        self.outputCount = outputCount
        self.classLabels = classLabels
        self.featureNames = featureNames
        self.transform = transform
        self.sigmoidScale = sigmoidScale
        self.baseMargins = baseMargins
        self.averageTrees = averageTrees
        self.arithmetic = arithmetic
        self.isBinaryClassifier = isBinaryClassifier
        self.isClassifier = isClassifier
    }
}

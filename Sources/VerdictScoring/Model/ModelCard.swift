import Foundation

/// `card.json` beside a model file: what the model is, how it was made and how to check it.
/// Written by training (training/train.py), checked by `verdict model verify`, read when the
/// service loads the model.
public struct ModelCard: Sendable, Codable, Hashable {
    public var name: String
    public var version: String
    public var createdAt: String?
    /// The model file's name inside the version directory.
    public var modelFile: String
    /// Hex SHA-256 of the model file.
    public var sha256: String
    public var library: Library?
    public var parameters: [String: JSONScalar]?
    public var trainingData: [String: JSONScalar]?
    /// Features in model order.
    public var features: [String]
    /// SHA-256 of the feature configuration the model was trained with.
    public var featureConfigSHA256: String?
    /// ``FeatureConfiguration/definitionsFingerprint(of:)`` of `features` when the model was
    /// trained: verify compares it, and the whole-file `featureConfigSHA256` only without it.
    public var featureDefinitionsSHA256: String?
    /// The stream aggregates the training data was computed with (features.yaml's `aggregates:`).
    /// A model that uses an aggregate as a feature is served only where it is defined the same way.
    public var aggregates: [AggregateDefinition]?
    public var metrics: [String: Double]?
    public var thresholds: Thresholds?
    /// Reference distributions for drift (PSI): the score's and each feature's.
    public var psiReference: PSIReference?
    /// Rows with the outputs the training library computed; a loaded model must reproduce them.
    public var goldenVectors: [GoldenVector]?

    public struct Library: Sendable, Codable, Hashable {
        public var name: String
        public var version: String
        public var environment: [String: String]?
    }

    public struct Thresholds: Sendable, Codable, Hashable {
        public var reviewAt: Double
        public var declineAt: Double
        public var targetFalsePositiveRates: [String: Double]?

        enum CodingKeys: String, CodingKey {
            case reviewAt = "review_at"
            case declineAt = "decline_at"
            case targetFalsePositiveRates = "target_false_positive_rates"
        }
    }

    public struct PSIReference: Sendable, Codable, Hashable {
        public var score: Bins
        public var features: [String: Bins]?
    }

    /// Bin edges (ascending, n+1 values; the outer ones may be -inf/+inf as null) and the share
    /// of training rows in each bin, plus the share of missing values.
    public struct Bins: Sendable, Codable, Hashable {
        public var edges: [Double?]
        public var fractions: [Double]
        public var missing: Double?
    }

    public struct GoldenVector: Sendable, Codable, Hashable {
        /// Feature values in model order; null = missing.
        public var features: [Double?]
        /// The model's score (the probability of the positive class).
        public var score: Double
    }

    enum CodingKeys: String, CodingKey {
        case name, version, library, parameters, features, metrics, thresholds, sha256, aggregates
        case createdAt = "created_at"
        case modelFile = "model_file"
        case trainingData = "training_data"
        case featureConfigSHA256 = "feature_config_sha256"
        case featureDefinitionsSHA256 = "feature_definitions_sha256"
        case psiReference = "psi_reference"
        case goldenVectors = "golden_vectors"
    }

    /// Reads `card.json`.
    ///
    /// - Throws: ``ScoringError`` naming the file and the field that is wrong.
    public static func load(path: String) throws(ScoringError) -> ModelCard {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ScoringError(.model, "cannot read the model card \(path)")
        }
        let card: ModelCard
        do {
            card = try JSONDecoder().decode(ModelCard.self, from: data)
        } catch {
            throw ScoringError(.model, "the model card \(path) is not valid: \(error)")
        }
        guard isPlainFileName(card.modelFile) else {
            throw ScoringError(
                .model, "the model card \(path) names model_file '\(card.modelFile)'; it must be a file name inside the card's directory (no '/', no '..')")
        }
        return card
    }

    /// A name that stays in its directory: a card must not point the loader at another file on the host.
    static func isPlainFileName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\\") && !name.utf8.contains(0)
    }
}

/// A JSON scalar for free-form card fields (parameters, data fingerprints).
public enum JSONScalar: Sendable, Codable, Hashable {
    case string(String), number(Double), bool(Bool), null

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else {
            self = .string(try c.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .number(let n): try c.encode(n)
        case .bool(let b): try c.encode(b)
        case .null: try c.encodeNil()
        }
    }
}

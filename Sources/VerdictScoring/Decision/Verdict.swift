/// The decision.
public enum Verdict: String, Sendable, Hashable, Codable, Comparable, CaseIterable {
    case approve = "APPROVE"
    case review = "REVIEW"
    case decline = "DECLINE"

    private var rank: Int {
        switch self {
        case .approve: 0
        case .review: 1
        case .decline: 2
        }
    }

    public static func < (lhs: Verdict, rhs: Verdict) -> Bool { lhs.rank < rhs.rank }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Verdict(rawValue: text.uppercased()) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not APPROVE, REVIEW or DECLINE"))
        }
        self = value
    }
}

/// LOW / MEDIUM / HIGH.
public enum RiskLevel: String, Sendable, Hashable, Codable, Comparable {
    case low = "LOW"
    case medium = "MEDIUM"
    case high = "HIGH"

    public static func < (lhs: RiskLevel, rhs: RiskLevel) -> Bool {
        [RiskLevel.low, .medium, .high].firstIndex(of: lhs)! < [RiskLevel.low, .medium, .high].firstIndex(of: rhs)!
    }
}

import Foundation
import Testing
import VerdictScoring
import Yams

/// rules.yaml and features.yaml are strict: a misspelt key is refused with the closest known key,
/// instead of decoding as absent and leaving the default in force.
@Suite("Strict rules.yaml and features.yaml")
struct StrictKeysTests {
    static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return url
    }()

    /// The shipped file with `original` replaced by `misspelt` once.
    static func mutated(_ file: String, _ original: String, _ misspelt: String) throws -> String {
        let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
        let range = try #require(text.range(of: original), "\(original) not found in \(file)")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "strict-\(UUID().uuidString.prefix(8))-\((file as NSString).lastPathComponent)"
        ).path
        try text.replacingCharacters(in: range, with: misspelt).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(
        "a misspelt key in the shipped rules.yaml is refused with the file, its path and a suggestion",
        arguments: [
            ("{threshold: 500}", "{threshhold: 500}", ["unknown key indicators.high_amount.threshhold", "did you mean threshold?"]),
            ("high_amount:", "high_amout:", ["unknown key indicators.high_amout", "did you mean high_amount?"]),
            ("hard_rules:", "hard_rule:", ["unknown key hard_rule", "did you mean hard_rules?"]),
            // A required key misspelt is first of all missing.
            ("policy_version:", "policy_verison:", ["missing key 'policy_version'"]),
        ])
    func misspeltRuleKey(original: String, misspelt: String, expected: [String]) throws {
        let path = try Self.mutated("config/rules.yaml", original, misspelt)
        #expect {
            _ = try ScoringConfiguration.loadYAML(RuleConfiguration.self, path: path)
        } throws: { error in
            let message = "\(error)"
            return message.contains(path) && expected.allSatisfy { message.contains($0) }
        }
    }

    @Test(
        "a bad value in rules.yaml or features.yaml is refused with the file, the key path, the value and what is allowed",
        arguments: [
            ("config/rules.yaml", "top_k: 3", "top_k: three", ["reasons.top_k is 'three'; give an integer"]),
            ("config/rules.yaml", "{threshold: 500}", "{threshold: lots}", ["indicators.high_amount.threshold is 'lots'; give a number"]),
            ("config/rules.yaml", "min_indicators: 3", "min_indicators: [3]", ["escalations[0].min_indicators is '- 3'; give a single value"]),
            ("config/rules.yaml", "action: flag}", "action: block}", ["indicators.high_risk_mcc.action", "'block' is not one of flag, review, decline"]),
            ("config/rules.yaml", "decision: REVIEW", "decision: MAYBE", ["'MAYBE' is not APPROVE, REVIEW or DECLINE"]),
            ("config/rules.yaml", "event_age_sla: 10m", "event_age_sla: soon", ["degraded.event_age_sla", "'soon' is not a duration; write e.g. 250ms"]),
            ("config/features.yaml", "version: 1", "version: one", ["version is 'one'; give an integer"]),
        ])
    func badValue(file: String, original: String, bad: String, expected: [String]) throws {
        let path = try Self.mutated(file, original, bad)
        #expect {
            if file.hasSuffix("rules.yaml") {
                _ = try ScoringConfiguration.loadYAML(RuleConfiguration.self, path: path)
            } else {
                _ = try ScoringConfiguration.loadYAML(FeatureConfiguration.self, path: path)
            }
        } throws: { error in
            let message = "\(error)"
            return message.contains(path) && expected.allSatisfy { message.contains($0) }
        }
    }

    @Test("a misspelt optional key in a feature definition is refused with a suggestion")
    func misspeltFeatureKey() throws {
        let path = try Self.mutated("config/features.yaml", "reason:", "reasn:")
        #expect {
            _ = try ScoringConfiguration.loadYAML(FeatureConfiguration.self, path: path)
        } throws: { error in
            let message = "\(error)"
            return message.contains("unknown key features[") && message.contains(".reasn") && message.contains("did you mean reason?")
        }
    }

    @Test("the shipped files load strictly; lookup tables keep the user's own keys; null is absent, not unknown")
    func shippedFilesAndFreeFormMaps() throws {
        _ = try ScoringConfiguration.loadYAML(RuleConfiguration.self, path: Self.root.appendingPathComponent("config/rules.yaml").path)
        _ = try ScoringConfiguration.loadYAML(FeatureConfiguration.self, path: Self.root.appendingPathComponent("config/features.yaml").path)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("strict-\(UUID().uuidString.prefix(8)).yaml").path
        try """
        version: 1
        features:
          - name: mcc_risk
            lookup: {field: merchant_category, table: {"7995": 3, "6051": 2, anything-at-all: 1}, default: 0}
            reason: null
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let features = try ScoringConfiguration.loadYAML(FeatureConfiguration.self, path: path)
        #expect(features.features.first?.lookup?.table["anything-at-all"] == 1)
    }

    @Test("suggestions: one or two edits away, transpositions count once, nothing for a key unlike any")
    func suggestions() {
        #expect(KeySuggestion.closest(to: "threshhold", among: ["threshold", "enabled"]) == "threshold")
        #expect(KeySuggestion.closest(to: "reveiw_at", among: ["review_at", "decline_at"]) == "review_at")
        #expect(KeySuggestion.closest(to: "Group_ID", among: ["group_id"]) == "group_id")
        #expect(KeySuggestion.closest(to: "colour", among: ["threshold", "enabled"]) == nil)
        #expect(KeySuggestion.closest(to: "axe", among: ["age", "ace"]) != nil)
    }
}

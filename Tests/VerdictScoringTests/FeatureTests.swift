import Foundation
import Testing
@testable import VerdictScoring

@Suite("Features")
struct FeatureTests {
    func row(_ text: String, _ configuration: FeatureConfiguration) throws -> [String: Double] {
        guard case .valid(let event) = ScoringFixtures.validate(text) else { throw CancellationError() }
        let plan = try FeaturePlan(configuration: configuration)
        let values = Array(text.utf8).withUnsafeBytes { plan.row(event, record: $0) }
        return Dictionary(uniqueKeysWithValues: zip(plan.featureNames, values))
    }

    @Test("the shipped features.yaml computes every feature as documented")
    func shipped() throws {
        let text = ScoringFixtures.event {
            $0["event_time"] = "2026-11-22T03:30:00Z"  // a Sunday, 03:30 UTC
            $0["amount"] = 250; $0["currency"] = "USD"; $0["avg_transaction_amount"] = 50
            $0["merchant_country"] = "NG"; $0["card_country"] = "US"; $0["channel"] = "p2p"
            $0["merchant_category"] = "6051"; $0["is_new_recipient"] = true; $0["card_age_days"] = 12
        }
        let r = try row(text, try ScoringFixtures.features())
        #expect(r["amount_usd"] == 250)
        #expect(r["log_amount"] == log1p(250))
        #expect(r["amount_to_avg_ratio"] == 5)
        #expect(r["hour_of_day"] == 3)
        #expect(r["day_of_week"] == 6)
        #expect(r["is_night"] == 1)
        #expect(r["is_foreign"] == 1)
        #expect(r["channel"] == 3)
        #expect(r["mcc_risk_group"] == 3)
        #expect(r["is_new_recipient"] == 1)
        #expect(r["card_age_days"] == 12)
        #expect(r["transactions_last_24h"]!.isNaN)
        #expect(r["country_risk_score"]!.isNaN)
    }

    @Test("missing inputs give NaN; lookups fall back to their default")
    func missing() throws {
        let r = try row(ScoringFixtures.baseEvent, try ScoringFixtures.features())
        #expect(r["is_foreign"]!.isNaN)
        #expect(r["amount_to_avg_ratio"]!.isNaN)
        #expect(r["channel"]!.isNaN)
        #expect(r["mcc_risk_group"]!.isNaN)  // no MCC at all: missing, not the default
        let unknownMCC = try row(ScoringFixtures.event { $0["merchant_category"] = "5411" }, try ScoringFixtures.features())
        #expect(unknownMCC["mcc_risk_group"] == 0)
    }

    @Test("a model feature the configuration does not map refuses the model, listing every name")
    func unmapped() throws {
        let configuration = try ScoringFixtures.features()
        #expect { try FeaturePlan(configuration: configuration, order: ["amount_usd", "device_score", "ip_risk"]) } throws: { error in
            let text = "\(error)"
            return (error as? ScoringError)?.code == .unmappedFeatures && text.contains("device_score") && text.contains("ip_risk")
        }
    }

    @Test(
        "invalid definitions are refused with the feature's name",
        arguments: [
            FeatureDefinition(name: "a", field: "colour"),
            FeatureDefinition(name: "b", derive: "moon_phase"),
            FeatureDefinition(name: "c", field: "amount", derive: "hour_of_day"),
            FeatureDefinition(name: "d", lookup: .init(field: "merchant_category", table: ["54": 1])),
            FeatureDefinition(name: "e", lookup: .init(field: "card_id", table: [:])),
        ])
    func invalid(_ definition: FeatureDefinition) {
        #expect { try FeaturePlan(configuration: FeatureConfiguration(features: [definition])) } throws: { error in
            "\(error)".contains("'\(definition.name)'")
        }
    }

    @Test(
        "day of week and hour are computed in UTC across the epoch boundary",
        arguments: [
            ("1970-01-01T00:00:00Z", 3, 0), ("1969-12-31T23:00:00Z", 2, 23), ("2026-11-23T23:59:59Z", 0, 23),
        ])
    func calendar(_ time: String, _ day: Int, _ hour: Int) {
        let t = Timestamps.parse(time)!
        #expect(FeaturePlan.dayOfWeek(t) == day)
        #expect(FeaturePlan.secondsOfDay(t) / 3600 == hour)
    }
}

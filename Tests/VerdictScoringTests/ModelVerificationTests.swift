import Foundation
import Synchronization
import Testing
import VerdictForest
import VerdictONNX
import VerdictScoring

/// The promotion gate: the committed model passes; every kind of tampering fails with its reason.
@Suite("Model verification (the promotion gate)")
struct ModelVerificationTests {
    static let committed = ScoringFixtures.root.appendingPathComponent("models/verdict-fraud/1.0.0")

    static func verification(features: FeatureConfiguration? = nil, allowFeatureConfigChange: Bool = false, stateful: Bool = false) throws -> ModelVerification
    {
        let path = ScoringFixtures.root.appendingPathComponent(stateful ? "config/stateful/features.yaml" : "config/features.yaml")
        return ModelVerification(
            features: try features ?? (stateful ? ScoringFixtures.statefulFeatures() : ScoringFixtures.features()),
            featureConfigSHA256: SHA256Hex.of(Array(try Data(contentsOf: path))),
            allowFeatureConfigChange: allowFeatureConfigChange,
            loader: { request throws(ForestError) in try ModelLoader.loadAnyFormat(request) }
        )
    }

    /// A copy of the committed version to tamper with.
    static func copy(_ mutate: (URL, inout [String: Any]) throws -> Void = { _, _ in }) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("verify-\(UUID().uuidString.prefix(8))")
        try FileManager.default.copyItem(at: committed, to: directory)
        let cardURL = directory.appendingPathComponent("card.json")
        var card = try JSONSerialization.jsonObject(with: Data(contentsOf: cardURL)) as! [String: Any]
        try mutate(directory, &card)
        try JSONSerialization.data(withJSONObject: card).write(to: cardURL)
        return directory
    }

    @Test("every committed model version passes with config/stateful; 1.0.0 with the default configuration too, and 2.0.0 not without its aggregates")
    func committedModelsPass() throws {
        let versions = ModelVerification.versionDirectories(ScoringFixtures.root.appendingPathComponent("models/verdict-fraud").path)
        #expect(versions.map { ($0 as NSString).lastPathComponent } == ["1.0.0", "2.0.0"])
        for version in versions {
            #expect(try Self.verification(stateful: true).problems(version) == [], "\(version)")
        }
        #expect(try Self.verification().problems(Self.committed.path) == [])
        let unmapped = try Self.verification().problems(Self.stateful.path)
        #expect(unmapped.contains { $0.contains("card_txn_count_1h") }, "\(unmapped)")
    }

    @Test("a model file changed after training fails on its sha256, and nothing else is trusted")
    func tamperedFile() throws {
        let directory = try Self.copy { directory, card in
            let model = directory.appendingPathComponent(card["model_file"] as! String)
            var bytes = try Data(contentsOf: model)
            bytes[bytes.count / 2] ^= 0x01
            try bytes.write(to: model)
        }
        let problems = try Self.verification().problems(directory.path)
        #expect(problems.count == 1)
        #expect(problems.first?.contains("sha256") == true)
    }

    @Test("a golden vector that does not reproduce fails, naming the row and the difference")
    func goldenVectorMismatch() throws {
        let directory = try Self.copy { _, card in
            var vectors = card["golden_vectors"] as! [[String: Any]]
            vectors[7]["score"] = (vectors[7]["score"] as! Double) + 1e-4
            card["golden_vectors"] = vectors
        }
        let problems = try Self.verification().problems(directory.path)
        #expect(problems.count == 1)
        #expect(problems.first?.contains("golden vector 7") == true)
    }

    @Test("a card without golden vectors fails: nothing would prove the runtime reproduces training")
    func missingGoldenVectors() throws {
        let directory = try Self.copy { _, card in card["golden_vectors"] = [] }
        #expect(try Self.verification().problems(directory.path).first?.contains("no golden vectors") == true)
    }

    @Test("a card without a definitions fingerprint falls back to the whole file: a different feature configuration fails unless explicitly allowed")
    func featureConfigChanged() throws {
        let directory = try Self.copy { _, card in
            card["feature_config_sha256"] = String(repeating: "0", count: 64)
            card["feature_definitions_sha256"] = nil
        }
        #expect(try Self.verification().problems(directory.path).first?.contains("feature configuration") == true)
        #expect(try Self.verification(allowFeatureConfigChange: true).problems(directory.path) == [])
    }

    @Test("an aggregate added for a newer model keeps an older one valid; a changed definition of a feature it uses fails")
    func definitionsFingerprint() throws {
        var added = try ScoringFixtures.features()
        added.aggregates = [
            AggregateDefinition(
                name: "card_txn_count_1h", function: .count, key: "card_id", window: ConfigDuration(.seconds(3600)), resolution: ConfigDuration(.seconds(300)))
        ]
        added.features[0].reason = ReasonText(code: "OTHER", description: "Reason texts do not change values")
        // The whole file differs from the one 1.0.0 was trained with; the definitions it uses do not.
        #expect(try Self.verification(features: added).problems(Self.committed.path) == [])

        var changed = try ScoringFixtures.features()
        let channel = try #require(changed.features.firstIndex { $0.name == "channel" })
        changed.features[channel].lookup?.table["p2p"] = 7
        let problems = try Self.verification(features: changed).problems(Self.committed.path)
        #expect(problems.count == 1)
        #expect(problems.first?.contains("not defined as they were in training") == true, "\(problems)")
        #expect(try Self.verification(features: changed, allowFeatureConfigChange: true).problems(Self.committed.path) == [])
    }

    @Test("a model feature the feature configuration does not map fails, naming it")
    func unmappedFeature() throws {
        var features = try ScoringFixtures.features()
        let removed = features.features.removeLast()
        let problems = try Self.verification(features: features).problems(Self.committed.path)
        #expect(problems.contains { $0.contains(removed.name) }, "\(problems)")
    }

    static let stateful = ScoringFixtures.root.appendingPathComponent("models/verdict-fraud/2.0.0")

    @Test("2.0.0 reads the aggregates as features, and its card records them as features.yaml defines them")
    func statefulModelUsesAggregates() throws {
        let card = try ModelCard.load(path: Self.stateful.appendingPathComponent("card.json").path)
        let configured = try #require(try ScoringFixtures.statefulFeatures().aggregates)
        #expect(card.features.suffix(4) == configured.map(\.name)[...])
        #expect(card.aggregates?.count == configured.count)
        for (recorded, current) in zip(card.aggregates ?? [], configured) { #expect(recorded.computesSameValues(as: current), "\(recorded.name)") }
        #expect(try Self.verification(stateful: true).problems(Self.stateful.path) == [])
    }

    @Test("a model is refused where an aggregate it uses is defined differently, or its card does not record the aggregate", arguments: ["window", "card"])
    func aggregateDefinitionChanged(_ change: String) throws {
        var features = try ScoringFixtures.statefulFeatures()
        var directory = Self.stateful
        if change == "window" {
            features.aggregates![0].window = ConfigDuration(.seconds(7200))
        } else {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("verify-\(UUID().uuidString.prefix(8))")
            try FileManager.default.copyItem(at: Self.stateful, to: directory)
            let cardURL = directory.appendingPathComponent("card.json")
            var card = try JSONSerialization.jsonObject(with: Data(contentsOf: cardURL)) as! [String: Any]
            card["aggregates"] = nil
            try JSONSerialization.data(withJSONObject: card).write(to: cardURL)
        }
        // The service's load path refuses it, and so does the gate, even when told the features changed.
        let card = try ModelCard.load(path: directory.appendingPathComponent("card.json").path)
        let expected = change == "window" ? "the model was trained with {function: count, key: card_id, window: 1h" : "does not record how it was computed"
        #expect {
            _ = try ModelRepository.load(
                file: directory.appendingPathComponent(card.modelFile).path, card: card, name: card.name, version: card.version, features: features,
                verify: false, loader: { request throws(ForestError) in try ModelLoader.loadAnyFormat(request) })
        } throws: { error in
            (error as? ScoringError)?.message.contains(expected) == true
        }
        let problems = try Self.verification(features: features, allowFeatureConfigChange: true, stateful: true).problems(directory.path)
        #expect(problems.contains { $0.contains(expected) }, "\(problems)")
    }

    @Test("thresholds out of order fail")
    func badThresholds() throws {
        let directory = try Self.copy { _, card in card["thresholds"] = ["review_at": 0.9, "decline_at": 0.2] }
        #expect(try Self.verification().problems(directory.path).contains { $0.contains("review_at") })
    }

    @Test("a directory without a card fails")
    func missingCard() throws {
        let directory = try Self.copy()
        try FileManager.default.removeItem(at: directory.appendingPathComponent("card.json"))
        #expect(try Self.verification().problems(directory.path).first?.contains("no readable model card") == true)
    }
}

/// A card cannot point the loader outside its version directory, and the service never parses a
/// file whose bytes are not the card's.
@Suite("Model cards and repositories under tampering")
struct ModelCardTamperingTests {
    @Test("a card whose model_file leaves its directory is refused", arguments: ["../../etc/passwd", "/etc/passwd", "..", "", "sub/model.json"])
    func modelFileEscapes(_ modelFile: String) throws {
        let directory = try ModelVerificationTests.copy { _, card in card["model_file"] = modelFile }
        let card = directory.appendingPathComponent("card.json").path
        #expect { _ = try ModelCard.load(path: card) } throws: { error in
            (error as? ScoringError)?.message.contains("model_file") == true
        }
        let problems = try ModelVerificationTests.verification().problems(directory.path)
        #expect(problems.first?.contains("model_file") == true, "\(problems)")
    }

    @Test("the repository refuses a model changed in place before parsing it, naming the model, not the path")
    func changedInPlace() throws {
        let directory = try ModelVerificationTests.copy { directory, card in
            // Replaced by bytes that would make a parser recurse: the refusal must come from the hash.
            let model = directory.appendingPathComponent(card["model_file"] as! String)
            try Data(String(repeating: "[", count: 300_000).utf8).write(to: model)
        }
        let parsed = Mutex(0)
        let repository = ModelRepository(
            path: directory.path,
            loader: { request throws(ForestError) in
                parsed.withLock { $0 += 1 }
                return try ModelLoader.loadAnyFormat(request)
            })
        #expect { _ = try repository.load(features: try ScoringFixtures.features()) } throws: { error in
            let message = (error as? ScoringError)?.message ?? ""
            return message.contains("does not match the card") && message.contains("not parsed") && !message.contains(directory.path)
        }
        #expect(parsed.withLock { $0 } == 1)
    }
}

import Foundation
import Testing
import VerdictKafka
import VerdictPipeline
import VerdictScoring

/// `verdict serve` end to end against Tansu: every event gets exactly one outcome, through signals,
/// crashes, a second instance and model swaps. The service runs as its own process.
@Suite("Stream service (verdict serve against Tansu)", .serialized, .enabled(if: TestBroker.enabled))
struct StreamServiceTests {
    @Test(
        "200k events, 2% invalid: exactly one decision or dead letter each; sidecar endpoints; memory stays flat; SIGTERM exits 0 and a restart adds no duplicates"
    )
    func everyEventExactlyOneOutcome() async throws {
        let fixture = try await StreamFixture.make("exactly-one", brokers: try TestBroker.brokers())
        let service = try await fixture.start()
        // Tansu assigns a new group's partitions after about half the session timeout: not ready yet.
        let (early, earlyBody) = try await service.get("/readyz")
        #expect(early == 503, "readyz before the group join: \(earlyBody)")
        #expect(earlyBody.contains("\"joined_group\":\"false\""))
        #expect(try await service.get("/healthz").0 == 200)
        try await service.waitUntilReady()
        #expect(try await service.get("/readyz").0 == 200)
        let (modelStatus, model) = try await service.get("/model")
        #expect(modelStatus == 200)
        #expect(model.contains("\"version\":\"1.0.0\"") && model.contains("\"sha256\":"))
        #expect(try await service.post("/admin/reload", token: nil).0 == 401)
        #expect(try await service.post("/admin/reload", token: "wrong").0 == 401)

        let total = 200_000
        try await fixture.generate(count: total, invalidFraction: 0.02, seed: 11)
        let tally = try await OutcomeReader.read(fixture, expected: total)
        #expect(tally.inputs.count == total)
        #expect(tally.missing.isEmpty, "events without an outcome: \(tally.missing.prefix(5))")
        #expect(tally.duplicates == 0)
        #expect(tally.strays == 0 && tally.unreadable == 0)
        #expect(tally.decisionsByTransaction.values.allSatisfy { $0 == 1 })
        #expect(tally.decisionCount + tally.deadLetterCount == total)
        #expect((3_000...5_000).contains(tally.deadLetterCount), "dead letters: \(tally.deadLetterCount)")
        // Nothing per event is retained: a leak of one decision per event (~0.9 KB) would add
        // ~180 MB here on top of librdkafka's bounded buffers.
        let peak = service.peakResidentBytes() ?? 0
        #expect(peak > 0 && peak < 250 << 20, "peak RSS \(peak >> 20) MB")
        #expect(tally.decisionsByModelVersion == ["1.0.0": tally.decisionCount])

        // The metrics agree with what is on the topics.
        #expect(try await service.metric("verdict_events_consumed_total{topic=\"\(fixture.input)\"}") == Double(total))
        var decided = 0.0
        for outcome in ["APPROVE", "REVIEW", "DECLINE"] {
            let value = try await service.metric("verdict_decisions_total{decision=\"\(outcome)\"}") ?? 0
            #expect(value == Double(tally.decisionsByOutcome[outcome] ?? 0), "\(outcome)")
            decided += value
        }
        #expect(decided == Double(tally.decisionCount))
        let (_, metrics) = try await service.get("/metrics")
        for series in [
            "verdict_processing_seconds_bucket", "verdict_event_age_seconds_bucket", "verdict_batch_size_bucket",
            "verdict_in_flight_events", "verdict_rebalances_total", "verdict_assigned_partitions",
            "verdict_model_info{role=\"champion\",name=\"verdict-fraud\",version=\"1.0.0\"", "verdict_risk_score_bucket",
            "verdict_build_info", "verdict_dead_letters_total{reason=", "verdict_model_reloads_total",
        ] {
            #expect(metrics.contains(series), "missing \(series)")
        }
        #expect(try await service.post("/admin/reload").0 == 200)

        service.signal(SIGTERM)
        #expect(try await service.waitForExit(timeout: .seconds(15)) == 0)
        #expect(service.logContains("stream stopped"))

        // A restart resumes at the committed offsets: nothing is scored twice.
        let restarted = try await fixture.start("restarted")
        try await restarted.waitUntilReady()
        try await Task.sleep(for: .seconds(2))
        restarted.signal(SIGTERM)
        #expect(try await restarted.waitForExit(timeout: .seconds(15)) == 0)
        let after = try await OutcomeReader.read(fixture, expected: total)
        #expect(after.duplicates == 0)
        #expect(after.outcomeRecordCount == total)
    }

    @Test("SIGKILL mid-stream and restart: nothing lost; duplicates within the in-flight bound plus one commit interval")
    func killAndRestart() async throws {
        let maxInFlight = 4_000
        let fixture = try await StreamFixture.make(
            "sigkill", brokers: try TestBroker.brokers(),
            pipeline: ["max_in_flight: \(maxInFlight)", "commit_interval: 200ms"])
        let service = try await fixture.start()
        try await service.waitUntilReady()
        let rate = 10_000.0
        let generator = try fixture.generator(count: 60_000, rate: rate, seed: 12)
        try await eventually(timeout: .seconds(60), "20k events consumed") { () async -> Bool in
            ((try? await service.metric("verdict_events_consumed_total{topic=\"\(fixture.input)\"}")) ?? 0) >= 20_000
        }
        service.signal(SIGKILL)
        #expect(try await service.waitForExit(timeout: .seconds(10)) != nil)

        let restarted = try await fixture.start("restarted")
        try await restarted.waitUntilReady()
        while generator.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(generator.terminationStatus == 0)
        let tally = try await OutcomeReader.read(fixture, expected: 60_000)
        #expect(tally.inputs.count == 60_000)
        #expect(tally.missing.isEmpty, "lost: \(tally.missing.count)")
        // Redelivered: what was in flight, plus what was delivered since the last commit (200 ms at
        // 10k/s, with slack for a slow runner).
        let bound = maxInFlight + Int(rate * 0.2) + 2_000
        #expect(tally.duplicates <= bound, "duplicates \(tally.duplicates) > \(bound)")
        restarted.signal(SIGTERM)
        #expect(try await restarted.waitForExit(timeout: .seconds(15)) == 0)
    }

    @Test("a second instance joins mid-stream and leaves: nothing lost")
    func secondInstanceJoinsAndLeaves() async throws {
        let fixture = try await StreamFixture.make("two-instances", brokers: try TestBroker.brokers())
        let first = try await fixture.start("first")
        try await first.waitUntilReady()
        let generator = try fixture.generator(count: 80_000, rate: 10_000, seed: 13)
        try await Task.sleep(for: .seconds(1))
        let second = try await fixture.start("second")
        try await second.waitUntilReady(assigned: true, timeout: .seconds(60))
        // Both consume: the group split the partitions.
        try await eventually(timeout: .seconds(30), "the second instance scores events") { () async -> Bool in
            ((try? await second.metric("verdict_events_consumed_total{topic=\"\(fixture.input)\"}")) ?? 0) > 0
        }
        second.signal(SIGTERM)
        #expect(try await second.waitForExit(timeout: .seconds(20)) == 0)
        while generator.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        let tally = try await OutcomeReader.read(fixture, expected: 80_000)
        #expect(tally.inputs.count == 80_000)
        #expect(tally.missing.isEmpty, "lost: \(tally.missing.count)")
        // Orderly handovers commit inside the rebalance: nothing is scored twice.
        #expect(tally.duplicates == 0)
        first.signal(SIGTERM)
        #expect(try await first.waitForExit(timeout: .seconds(15)) == 0)
    }

    @Test("hot reload mid-stream: a corrupt model is refused and the old one keeps serving; a good one is swapped in; versions are right")
    func hotReload() async throws {
        let fixture = try await StreamFixture.make("reload", brokers: try TestBroker.brokers())
        let service = try await fixture.start()
        try await service.waitUntilReady()
        let generator = try fixture.generator(count: 30_000, rate: 10_000, seed: 14)
        try await Task.sleep(for: .seconds(1))

        // 1.1.0: a truncated model file whose card matches it (so the parser, not the hash, refuses it).
        let good = fixture.models.appendingPathComponent("1.0.0")
        let corrupt = try ModelVersions.copy(good, to: fixture.models.appendingPathComponent("1.1.0"), version: "1.1.0", truncate: true)
        _ = corrupt
        let (refused, refusal) = try await service.post("/admin/models/1.1.0/activate")
        #expect(refused >= 400 && refused < 500, "activating a corrupt model: \(refused) \(refusal)")
        #expect(try await service.get("/model").1.contains("\"version\":\"1.0.0\""))
        #expect((try await service.metric("verdict_model_reloads_total{result=\"refused\"}") ?? 0) >= 1)
        #expect(try String(contentsOf: fixture.models.appendingPathComponent("ACTIVE"), encoding: .utf8).contains("1.0.0"))

        // 1.2.0: the same good model under a new version.
        _ = try ModelVersions.copy(good, to: fixture.models.appendingPathComponent("1.2.0"), version: "1.2.0", truncate: false)
        let (activated, body) = try await service.post("/admin/models/1.2.0/activate")
        #expect(activated == 200, "\(body)")
        #expect(try await service.get("/model").1.contains("\"version\":\"1.2.0\""))
        #expect(try String(contentsOf: fixture.models.appendingPathComponent("ACTIVE"), encoding: .utf8).contains("1.2.0"))
        let (_, models) = try await service.get("/models")
        #expect(models.contains("1.0.0") && models.contains("1.1.0") && models.contains("1.2.0"))

        while generator.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        // Events produced after the swap are all decided by 1.2.0.
        try await fixture.generate(count: 5_000, seed: 15)
        let tally = try await OutcomeReader.read(fixture, expected: 35_000)
        #expect(tally.missing.isEmpty, "lost: \(tally.missing.count)")
        #expect(tally.duplicates == 0)
        #expect(Set(tally.decisionsByModelVersion.keys) == ["1.0.0", "1.2.0"])
        #expect((tally.decisionsByModelVersion["1.2.0"] ?? 0) >= 5_000)

        // Rolling back by replacing ACTIVE atomically (what a ConfigMap or volume update does): the watcher reloads.
        let staged = fixture.models.appendingPathComponent(".ACTIVE.tmp")
        try "1.0.0\n".write(to: staged, atomically: false, encoding: .utf8)
        #expect(rename(staged.path, fixture.models.appendingPathComponent("ACTIVE").path) == 0)
        try await eventually(timeout: .seconds(20), "the watcher switches back to 1.0.0") { () async -> Bool in
            ((try? await service.get("/model").1) ?? "").contains("\"version\":\"1.0.0\"")
        }
        service.signal(SIGTERM)
        #expect(try await service.waitForExit(timeout: .seconds(15)) == 0)
    }
}

/// rules.yaml reloaded while events flow: the swap happens between batches, a refused file changes
/// nothing, and every event is decided once by exactly the policy its decision names.
@Suite("Policy reload mid-stream (verdict serve against Tansu)", .serialized, .enabled(if: TestBroker.enabled))
struct PolicyReloadStreamTests {
    /// The shipped rules under another policy_version; `hardLimit` replaces the 25,000 USD limit, and
    /// with one set, no decision gets feature reasons (every one would be a DECLINE to explain).
    static func rules(version: String, hardLimit: String? = nil, misspelt: Bool = false) throws -> String {
        let shipped = try String(contentsOf: TestBroker.projectRoot.appendingPathComponent("config/rules.yaml"), encoding: .utf8)
        var text = shipped.replacingOccurrences(of: "policy_version: \"2026-11-23.1\"", with: "policy_version: \"\(version)\"")
        if let hardLimit {
            text = text.replacingOccurrences(of: "decline_amount_usd_above: 25000", with: "decline_amount_usd_above: \(hardLimit)")
            text = text.replacingOccurrences(of: "for: [REVIEW, DECLINE]", with: "for: []")
        }
        if misspelt { text = text.replacingOccurrences(of: "decline_amount_usd_above:", with: "decline_amount_usd_abov:") }
        guard text.contains(version), hardLimit == nil || text.contains("for: []"), !misspelt || text.contains("_abov:") else {
            Issue.record("config/rules.yaml changed shape; update this test's edits")
            throw CancellationError()
        }
        return text
    }

    /// Replaces `file` atomically (what an editor's save, a ConfigMap update or a deploy does).
    static func replace(_ file: URL, with text: String) throws {
        let staged = file.deletingLastPathComponent().appendingPathComponent(".rules.yaml.tmp")
        try text.write(to: staged, atomically: false, encoding: .utf8)
        #expect(rename(staged.path, file.path) == 0)
    }

    @Test("valid, invalid, valid: decisions change exactly at each swap, the misspelt file is refused while the old rules keep deciding, nothing is lost")
    func reloadMidStream() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("verdict-policy-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let rulesFile = directory.appendingPathComponent("rules.yaml")
        try Self.rules(version: "it.1").write(to: rulesFile, atomically: true, encoding: .utf8)
        let fixture = try await StreamFixture.make("policy", brokers: try TestBroker.brokers(), rules: rulesFile)
        let service = try await fixture.start()
        try await service.waitUntilReady()
        // One stream for the whole test: every swap happens with events in flight.
        // 10 s of traffic while the files change; more once it.3 is in force.
        let total = 45_000
        let generator = try fixture.generator(count: 40_000, rate: 4_000, seed: 41)
        func reloads(_ result: String) async -> Double {
            ((try? await service.metric("verdict_policy_reloads_total{result=\"\(result)\"}")) ?? nil) ?? 0
        }
        try await Task.sleep(for: .seconds(2))

        // it.2: every amount above 0 USD is declined by the hard limit, without feature reasons.
        try Self.replace(rulesFile, with: try Self.rules(version: "it.2", hardLimit: "0"))
        try await eventually(timeout: .seconds(20), "it.2 is loaded") { await reloads("success") >= 1 }
        try await Task.sleep(for: .seconds(2))

        // A misspelt key: refused, it.2 keeps deciding.
        try Self.replace(rulesFile, with: try Self.rules(version: "it.bad", hardLimit: "0", misspelt: true))
        try await eventually(timeout: .seconds(20), "the misspelt rules are refused") { await reloads("refused") >= 1 }
        #expect(service.logContains("decline_amount_usd_abov"), "the refusal names the misspelt key")
        try await Task.sleep(for: .seconds(2))

        // it.3: the shipped limit again.
        try Self.replace(rulesFile, with: try Self.rules(version: "it.3"))
        try await eventually(timeout: .seconds(20), "it.3 is loaded") { await reloads("success") >= 2 }
        #expect(await reloads("refused") == 1, "a refused file is not retried until it changes")
        while generator.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(generator.terminationStatus == 0)
        try await fixture.generate(count: 5_000, seed: 42)

        let tally = try await OutcomeReader.read(fixture, expected: total)
        #expect(tally.missing.isEmpty, "lost: \(tally.missing.count)")
        #expect(tally.duplicates == 0)
        #expect(tally.inputs.count == total)
        let versions = tally.decisionsByPolicyVersion
        #expect(Set(versions.keys) == ["it.1", "it.2", "it.3"], "\(versions)")
        #expect((versions["it.1"] ?? 0) > 500 && (versions["it.2"] ?? 0) > 500, "each policy decided a share of the stream: \(versions)")
        #expect((versions["it.3"] ?? 0) >= 5_000, "events produced after it.3 loaded are decided by it.3: \(versions)")
        // Exactly at the swap: on every partition, each version's offsets end before the next one's begin.
        for (partition, ranges) in tally.policyOffsets {
            let ordered = ["it.1", "it.2", "it.3"].compactMap { ranges[$0] }
            for (earlier, later) in zip(ordered, ordered.dropFirst()) {
                #expect(earlier.upperBound < later.lowerBound, "\(partition): \(ranges)")
            }
        }
        // And each decision was decided by the rules it names.
        let decisions = try await OutcomeReader.decisions(fixture, expected: tally.decisionCount)
        #expect(decisions.count == tally.decisionCount)
        for decision in decisions {
            guard decision.policyVersion == "it.2" else { continue }
            #expect(
                decision.ruleHits.contains { $0.code == "HARD_AMOUNT_LIMIT" } && decision.decision == "DECLINE" && decision.reasons.isEmpty,
                "\(decision.source) under it.2: \(decision.decision) \(decision.ruleHits.map(\.code)) degraded \(decision.degraded) score \(decision.riskScore ?? -1)"
            )
        }
        // Under the shipped 25,000 USD limit almost nothing hits it, and REVIEW and DECLINE get reasons.
        let underFirstAndLast = decisions.filter { $0.policyVersion != "it.2" }
        // A decision the rules raised (an escalation, a hard rule) may have no feature that raised the
        // score: its rule hits explain it. At night (00:00-05:00 UTC) LATE_NIGHT makes such escalations common.
        let unexplained = underFirstAndLast.filter {
            $0.decision != "APPROVE" && $0.reasons.isEmpty && !$0.degraded && !$0.ruleHits.contains { $0.action != "flag" }
        }
        #expect(
            unexplained.isEmpty,
            "\(unexplained.count) REVIEW/DECLINE without reasons, e.g. \(unexplained.prefix(3).map { "\($0.source) \($0.decision) \($0.ruleHits.map(\.code)) score \($0.riskScore ?? -1)" })"
        )
        #expect(underFirstAndLast.filter { $0.ruleHits.contains { $0.code == "HARD_AMOUNT_LIMIT" } }.count < underFirstAndLast.count / 100)
        service.signal(SIGTERM)
        #expect(try await service.waitForExit(timeout: .seconds(15)) == 0)
    }
}

/// Shutdown when the broker stops answering: the service must never hang.
@Suite("Stream service shutdown with the broker gone", .serialized, .enabled(if: TestBroker.enabled))
struct ShutdownWithoutBrokerTests {
    @Test("broker frozen: SIGTERM exits within shutdown_timeout plus the watchdog margin, never hangs")
    func deadlineWithoutBroker() async throws {
        let tansu = try await PrivateTansu.start()
        let fixture = try await StreamFixture.make("frozen", brokers: tansu.address, pipeline: ["shutdown_timeout: 3s"])
        let service = try await fixture.start()
        try await service.waitUntilReady()
        try await fixture.generate(count: 5_000, seed: 31)
        tansu.pause()
        defer { tansu.stop() }
        let clock = ContinuousClock()
        let started = clock.now
        service.signal(SIGTERM)
        let status = try await service.waitForExit(timeout: .seconds(15))
        #expect(status != nil, "verdict serve hung with the broker frozen")
        // shutdown_timeout 3 s + the watchdog's 5 s margin, with slack for a busy runner.
        #expect(clock.now - started < .seconds(12))
    }

    @Test("a second SIGTERM more than a second after the first stops at once with exit status 2; a repeat within the second is the same request")
    func secondSignal() async throws {
        let tansu = try await PrivateTansu.start()
        let fixture = try await StreamFixture.make("second-signal", brokers: tansu.address, pipeline: ["shutdown_timeout: 30s"])
        let service = try await fixture.start()
        try await service.waitUntilReady()
        tansu.pause()
        defer { tansu.stop() }
        service.signal(SIGTERM)
        service.signal(SIGTERM)  // what `timeout` does: the process and its group
        try await Task.sleep(for: .milliseconds(1_500))
        #expect(try await service.waitForExit(timeout: .milliseconds(10)) == nil, "a repeated signal within a second was taken as a second request")
        service.signal(SIGTERM)
        #expect(try await service.waitForExit(timeout: .seconds(5)) == 2)
        #expect(service.logContains("second signal"))
    }
}

/// Model version directories for reload tests.
enum ModelVersions {
    /// Copies a version directory under a new version; `truncate` cuts the model file in half and
    /// re-hashes it in the card, so only parsing can tell it is broken.
    static func copy(_ source: URL, to destination: URL, version: String, truncate: Bool) throws -> URL {
        try FileManager.default.copyItem(at: source, to: destination)
        let cardURL = destination.appendingPathComponent("card.json")
        var card = try JSONSerialization.jsonObject(with: Data(contentsOf: cardURL)) as! [String: Any]
        card["version"] = version
        if truncate {
            let modelURL = destination.appendingPathComponent(card["model_file"] as! String)
            let bytes = try Data(contentsOf: modelURL)
            let half = bytes.prefix(bytes.count / 2)
            try half.write(to: modelURL)
            card["sha256"] = SHA256Hex.of(Array(half))
        }
        try JSONSerialization.data(withJSONObject: card, options: [.sortedKeys]).write(to: cardURL)
        return destination
    }
}

/// Polls an async `condition` (a sidecar query) until it holds or `timeout` passes.
func eventually(
    timeout: Duration,
    _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation,
    async condition: () async -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while await !condition() {
        if ContinuousClock.now >= deadline {
            Issue.record("timed out after \(timeout) waiting for \(what)", sourceLocation: sourceLocation)
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(100))
    }
}

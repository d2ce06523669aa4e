import Foundation
import VerdictScoring
import Yams

extension VerdictConfiguration {
    /// The sections of docs/configuration.md's reference, in order, with what each says under its
    /// table. Every key's section is the first component of its path.
    public static let sections: [ConfigurationSection] = [
        ConfigurationSection(
            name: "kafka",
            notes: """
                Idempotence is always on. Properties that would break the delivery guarantee or bypass a key are
                refused in the pass-through maps with the reason and the key to set instead: \(guardedPropertyList).

                Example, Confluent Cloud or MSK with SCRAM:

                ```yaml
                kafka:
                  bootstrap_servers: [b-1.example:9096, b-2.example:9096]
                  security:
                    protocol: sasl_ssl
                    sasl: {mechanism: SCRAM-SHA-512, username: verdict, password_file: /run/secrets/kafka-password}
                    tls: {ca_file: /etc/verdict/ca.pem}
                ```
                """),
        ConfigurationSection(
            name: "topics",
            notes: """
                The service checks at start-up that the topics exist and says which one is missing (it never creates
                topics: partition counts and retention are the platform team's decision).
                """),
        ConfigurationSection(
            name: "model",
            notes: """
                Model files are read as hostile input: every count in a file (features ≤ 2^20, classes ≤ 2^16, nodes,
                children, category segments) is checked before it is used, so a crafted or truncated file is refused
                with the file name and the reason, never a crash. With a card, the file's sha256 is compared with the
                card's **before** the file is parsed, and the card's `model_file` must be a plain file name in its
                own directory.

                A model that fails to load or verify is refused (logged, `verdict_model_reloads_total{result="refused"}`)
                and the previous one keeps serving. See docs/model-lifecycle.md.
                """),
        ConfigurationSection(
            name: "scoring",
            notes: """
                features.yaml and rules.yaml are reloaded without a restart when they change, on SIGHUP and on
                `POST /admin/reload`: the new pair is checked strictly and against every loaded model's features, then
                swapped between batches; a refused pair leaves the old one deciding (docs/rules.md, "Reloading").
                """),
        ConfigurationSection(name: "pipeline", notes: ""),
        ConfigurationSection(
            name: "sidecar",
            notes: """
                The token must be at least 24 bytes (`openssl rand -hex 24`): a shorter one is refused at start
                (exit 2), and a token file rewritten with a shorter one disables the admin endpoints (403) until it
                is fixed. Requests send `Authorization: Bearer <token>` (the scheme in any case); the comparison
                takes the same time whatever the token. Responses never carry absolute paths: `/model`, `/models`
                and error bodies name files and directories by their last component only.

                **Where to bind.** In Kubernetes keep `host: 0.0.0.0`: the kubelet's probes and Prometheus reach the
                pod IP, and the NetworkPolicy in `k8s/` limits who may connect. On a laptop or a shared host bind
                `host: 127.0.0.1`, so the sidecar (and its admin endpoints) are reachable from this machine only.

                Endpoints: `GET /healthz`, `GET /readyz`, `GET /metrics`, `GET /model`, `GET /models`,
                `POST /admin/reload`, `POST /admin/models/<version>/activate` (README, "Operating Verdict").
                """),
        ConfigurationSection(
            name: "dead_letters",
            notes: """
                Headers copied from an input to its decision or dead letter are capped at 16 KiB (the rest are
                dropped and counted in a `verdict-headers-dropped` header) and masked like every other output byte.
                """),
        ConfigurationSection(
            name: "logging",
            notes: """
                Logs never contain a card number: dead-letter reasons and messages pass through PAN masking.

                Every line carries `kafka.client` (`kafka.client_id`), `kafka.group` (`kafka.consumer.group_id`) and
                `instance` (`kafka.consumer.group_instance_id`, the pod name in Kubernetes, else the host name). So
                a line can be traced to its pod and group, in the service and in the lag exporter alike. The metadata
                keys are listed once, in `LogKey` (Sources/VerdictKafka/LogKey.swift), for every target.
                """),
    ]

    private static var guardedPropertyList: String {
        Set(guardedConsumerProperties.keys).union(guardedProducerProperties.keys).sorted().map { "`\($0)`" }.joined(separator: ", ")
    }

    /// The line before and after the generated part of docs/configuration.md.
    public static let referenceMarkers = (
        begin: "<!-- BEGIN generated by `verdict config docs` from VerdictConfiguration.keys; edit the declaration, then run `make docs` -->",
        end: "<!-- END generated by `verdict config docs` -->"
    )

    /// The reference part of docs/configuration.md: a table per section with every key, its
    /// default, what it accepts, its environment variable and its meaning, then the section's notes.
    public static func referenceMarkdown() -> String {
        var lines: [String] = []
        for section in sections {
            let members = keys.filter { $0.components.first.map(String.init) == section.name }
            guard !members.isEmpty else { continue }
            lines.append("### `\(section.name)`")
            lines.append("")
            lines.append("| key | default | accepts | meaning |")
            lines.append("|---|---|---|---|")
            for key in members {
                let name = key.components.dropFirst().joined(separator: ".")
                let variable = key.environmentVariable.map { "<br>`\($0)`" } ?? "<br>(file only)"
                var fallback = key.defaultShown
                if key.defaultNote == nil, case .rates(let table)? = key.defaultValue {
                    fallback = "\(table.count) currencies: " + table.keys.sorted().joined(separator: ", ")
                }
                lines.append("| `\(name)`\(variable) | \(fallback) | \(key.kind.accepts) | \(key.summary.replacingOccurrences(of: "|", with: "\\|")) |")
            }
            if !section.notes.isEmpty {
                lines.append("")
                lines.append(section.notes)
            }
            lines.append("")
        }
        lines.append(contentsOf: rulesDefaults())
        while lines.last == "" { lines.removeLast() }
        return lines.joined(separator: "\n") + "\n"
    }

    /// rules.yaml with every key at its default, encoded from the type that decodes the file, so
    /// the list cannot drift from what loading does.
    static func rulesDefaults() -> [String] {
        let encoded = (try? YAMLEncoder().encode(RuleConfiguration(policyVersion: "<required>"))) ?? "(could not encode the defaults)\n"
        return [
            "### rules.yaml defaults",
            "",
            "Every key rules.yaml may set, at the value it takes when the file leaves it out (generated from",
            "`RuleConfiguration`, the type that reads the file; docs/rules.md says what each does). A section",
            "that sets some keys keeps the defaults of the others. `policy_version` is required. Without",
            "`thresholds`, the model card's apply; `degraded.event_age_sla` unset means no age limit; an explicit",
            "`decline_amount_usd_above: null` removes the hard limit.",
            "",
            "```yaml",
        ] + encoded.split(separator: "\n").map { plainNumbers(String($0)) } + ["```", ""]
    }

    /// `threshold: 5e+2` as `threshold: 500`: Yams writes every Double in exponent form.
    static func plainNumbers(_ line: String) -> String {
        guard let colon = line.range(of: ": ", options: .backwards) else { return line }
        let value = line[colon.upperBound...]
        guard value.contains("e"), let number = Double(value) else { return line }
        return line[..<colon.upperBound] + ConfigurationKey.Kind.plain(number)
    }

    /// `page` with its generated part replaced by ``referenceMarkdown()``; nil when the markers are missing.
    public static func regenerate(_ page: String) -> String? {
        guard let begin = page.range(of: referenceMarkers.begin), let end = page.range(of: referenceMarkers.end), begin.upperBound <= end.lowerBound else {
            return nil
        }
        return String(page[..<begin.upperBound]) + "\n\n" + referenceMarkdown() + "\n" + String(page[end.lowerBound...])
    }
}

import Logging
import VerdictForest
import VerdictKafka
import VerdictScoring

extension VerdictConfiguration {
    /// Every key of `verdict.yaml`, declared once. docs/configuration.md is generated from this
    /// list (`make docs`), and a test fails when the committed page differs.
    public static let keys: [ConfigurationKey] = kafkaKeys + serviceKeys

    private static let kafkaKeys: [ConfigurationKey] = [
        .key("kafka.bootstrap_servers", \.kafka.bootstrapServers, .names(allowEmpty: false), "Brokers to bootstrap from (`host:port`)."),
        .key("kafka.client_id", \.kafka.clientID, .name, "`client.id`: appears in broker logs and quotas, and on every log line (`kafka.client`)."),
        .key(
            "kafka.statistics_interval", \.kafka.statisticsInterval, .duration(minimum: .zero),
            "librdkafka statistics cadence; feeds the consumer lag and assignment metrics. `0s` turns them off."),
        .key(
            "kafka.security.protocol", \.kafka.security.protocol, .choice(KafkaSecurity.TransportProtocol.allCases.map(\.rawValue)),
            "How connections to the brokers are secured."),
        .key(
            "kafka.security.sasl.mechanism", \.kafka.security.sasl!.mechanism, .choice(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER"]),
            in: sasl, "SASL mechanism. Setting any `sasl` key turns SASL on."),
        .key("kafka.security.sasl.username", \.kafka.security.sasl!.username, .name, default: "none (required with SASL)", in: sasl, "SASL user."),
        .key(
            "kafka.security.sasl.password_file", \.kafka.security.sasl!.passwordFile, .name, in: sasl,
            "File holding the SASL password (a Kubernetes secret volume). The password itself never goes in this file."),
        .key(
            "kafka.security.sasl.password_env", \.kafka.security.sasl!.passwordEnv, .name, in: sasl,
            "Or the environment variable holding it."),
        .key("kafka.security.tls.ca_file", \.kafka.security.tls!.caFile, .name, default: "the system store", in: tls, "CA bundle that verifies the brokers."),
        .key("kafka.security.tls.cert_file", \.kafka.security.tls!.certFile, .name, in: tls, "Client certificate (mutual TLS)."),
        .key("kafka.security.tls.key_file", \.kafka.security.tls!.keyFile, .name, in: tls, "Client private key (mutual TLS)."),
        .key(
            "kafka.security.tls.key_password_file", \.kafka.security.tls!.keyPasswordFile, .name, in: tls,
            "File holding the key's passphrase."),
        .key(
            "kafka.security.tls.key_password_env", \.kafka.security.tls!.keyPasswordEnv, .name, in: tls,
            "Or the environment variable holding it."),
        .key(
            "kafka.security.tls.verify_hostname", \.kafka.security.tls!.verifyHostname, .flag, in: tls,
            "Check the broker certificate's host name."),
        .key(
            "kafka.consumer.group_id", \.kafka.consumer.groupID, .name,
            "The consumer group: every pod of one deployment shares it, and Kafka spreads the partitions across them."),
        .key(
            "kafka.consumer.group_instance_id", \.kafka.consumer.groupInstanceID, .name,
            "Static membership (`group.instance.id`): one stable id per instance, such as the StatefulSet pod name (`VERDICT_KAFKA_CONSUMER_GROUP_INSTANCE_ID=$(POD_NAME)`). A restarted pod that comes back within `session_timeout` gets its partitions back without a rebalance; a pod that is gone for good keeps them until `session_timeout` passes."
        ),
        .key(
            "kafka.consumer.session_timeout", \.kafka.consumer.sessionTimeout, .duration(minimum: .seconds(1)),
            "How long the group waits for a silent member before reassigning its partitions."),
        .key(
            "kafka.consumer.max_poll_interval", \.kafka.consumer.maxPollInterval, .duration(minimum: .seconds(1)),
            "Longest the poll thread may go between two polls before the consumer leaves the group (`max.poll.interval.ms`); at least `session_timeout`. Rebuilding a partition's aggregate state holds the poll thread: an instance that rebuilds for longer leaves the group and rebuilds again when it rejoins. Set this above the longest rebuild (a partition's retained log at about 100,000 records a second on the development broker), or bound the rebuild with snapshots (`topics.state`, `pipeline.state_directory`); a rebuild warns at half of it. Exactly-once retries a transaction's commit for at most half of it (and at most 2 minutes)."
        ),
        .key(
            "kafka.consumer.offset_reset", \.kafka.consumer.offsetReset, .choice(KafkaConsumerConfiguration.OffsetReset.allCases.map(\.rawValue)),
            "Where a group with no committed offset starts: `earliest` scores the backlog, `latest` skips it, `error` refuses."),
        .key(
            "kafka.consumer.fetch_wait", \.kafka.consumer.fetchWait, .duration(minimum: .milliseconds(1)),
            "Longest a fetch waits at the broker for data (`fetch.wait.max.ms`). Brokers answer as soon as data is there, so this only matters when traffic is thin; short keeps a lone event from waiting (librdkafka's default is 500ms), at the cost of more fetch requests when idle."
        ),
        .key(
            "kafka.consumer.properties", \.kafka.consumer.properties, .properties,
            "Any librdkafka consumer property, passed through (e.g. `fetch.max.bytes`). Verdict sets `fetch.queue.backoff.ms` to 20 (librdkafka's default is 1000): with 1000, a consumer that scores more slowly than it fetches drains its local queue and then idles for the rest of the second, which held throughput to less than half on the development broker."
        ),
        .key(
            "kafka.producer.linger", \.kafka.producer.linger, .duration(minimum: .zero),
            "How long the producer waits to fill a batch (latency against throughput)."),
        .key(
            "kafka.producer.compression", \.kafka.producer.compression, .choice(KafkaProducerConfiguration.Compression.allCases.map(\.rawValue)),
            "Compression of decisions and dead letters."),
        .key(
            "kafka.producer.message_timeout", \.kafka.producer.messageTimeout, .duration(minimum: .seconds(1)),
            "A decision not acknowledged in this time is a delivery failure: its offset is never committed and it is retried."),
        .key(
            "kafka.producer.max_queued_messages", \.kafka.producer.maxQueuedMessages, .integer(1...10_000_000),
            "Producer queue bound. When the queue is full, the poll thread waits for delivery reports to make room (backpressure)."),
        .key("kafka.producer.properties", \.kafka.producer.properties, .properties, "Any librdkafka producer property, passed through."),
    ]

    private static let serviceKeys: [ConfigurationKey] = [
        .key("topics.input", \.topics.input, .names(allowEmpty: false), "Topics to consume; a name starting with `^` is a regular expression."),
        .key("topics.decisions", \.topics.decisions, .name, "Where decisions go, keyed like their input (docs/contracts.md)."),
        .key("topics.dead_letters", \.topics.deadLetters, .name, "Where invalid events go, with reasons and where they came from."),
        .key(
            "topics.state", \.topics.state, .text,
            "Stream aggregates only: where snapshots of each partition's state go, so whichever instance takes a partition reads only the log after its snapshot (docs/features.md, \"Cost of a rebuild, and snapshots\"). Create it with as many partitions as the input and `cleanup.policy=compact` (or a retention of a few `pipeline.state_snapshot_interval`s); the service refuses to start without it. `\"\"`: no state topic, partitions rebuild from the start of their log (or `pipeline.state_directory`)."
        ),
        .key(
            "model.path", \.model.path, .name,
            "A model file, a version directory (model file + `card.json`), or a directory of versions with an `ACTIVE` file naming the active one. The shipped config/verdict.yaml sets `../models/verdict-fraud`."
        ),
        .key(
            "model.shadow_path", \.model.shadowPath, .name,
            "A challenger scored beside the champion; its score and decision go to `shadow` in each decision and to `verdict_shadow_decisions_total`, never to the decision."
        ),
        .key("model.watch", \.model.watch, .flag, "Reload when the model or `ACTIVE` changes (atomic rename, Kubernetes ConfigMap symlink swap)."),
        .key("model.verify_golden_vectors", \.model.verifyGoldenVectors, .flag, "Refuse a model whose card's golden vectors do not reproduce."),
        .key(
            "model.max_file_bytes", \.model.maxFileBytes, .bytes(1...Int.max),
            "A larger model file is refused before a byte of it is read (1 GiB by default)."),
        .key("scoring.features", \.scoring.features, .name, "Feature definitions (docs/rules.md, \"Features\"); reloaded without a restart."),
        .key("scoring.rules", \.scoring.rules, .name, "Business rules, thresholds, degraded mode and reasons (docs/rules.md); reloaded without a restart."),
        .key(
            "scoring.validation.max_record_bytes", \.scoring.validation.maxRecordBytes, .bytes(64...16_777_216),
            "Larger records are dead-lettered `TOO_LARGE`."),
        .key("scoring.validation.max_depth", \.scoring.validation.maxDepth, .integer(1...64), "JSON nesting limit (`TOO_DEEP`)."),
        .key("scoring.validation.max_string_bytes", \.scoring.validation.maxStringBytes, .bytes(1...16_777_216), "Longest string value (`STRING_TOO_LONG`)."),
        .key(
            "scoring.validation.max_amount", \.scoring.validation.maxAmount, .number(0...1e15),
            "Largest amount, in USD after conversion (`OUT_OF_RANGE`)."),
        .key(
            "scoring.validation.max_event_age", \.scoring.validation.maxEventAge, .duration(minimum: .zero),
            "Older events are dead-lettered `STALE_TIMESTAMP`; `0s` turns the check off."),
        .key(
            "scoring.validation.max_clock_skew", \.scoring.validation.maxClockSkew, .duration(minimum: .zero),
            "Events further in the future are dead-lettered `FUTURE_TIMESTAMP`."),
        .key(
            "scoring.validation.currencies", \.scoring.validation.currencies, .rates,
            "Currency → USD rate (1 unit = rate USD). A currency with rate `null` is accepted only with `amount_usd` (else `NO_EXCHANGE_RATE`); an unlisted one is `UNKNOWN_CURRENCY`. Setting the key replaces the whole table."
        ),
        .key(
            "pipeline.guarantee", \.pipeline.guarantee, .choice(["at_least_once", "exactly_once"]),
            "`at_least_once`: an offset is committed only after its decision or dead letter is acknowledged; after a crash some events are decided twice (same decision, same transaction_id). `exactly_once`: decisions and offsets commit in one Kafka transaction; `read_committed` readers see each decision once."
        ),
        .key(
            "pipeline.transactional_id", \.pipeline.transactionalID, .name, default: "`verdict-<hostname>`",
            "Exactly-once only; must be unique per running instance (the pod name is)."),
        .key("pipeline.worker_threads", \.pipeline.workerThreads, .integer(0...1024), "Scoring threads; 0 = one per core."),
        .key("pipeline.max_batch", \.pipeline.maxBatch, .integer(1...100_000), "Records taken per poll and scored together."),
        .key(
            "pipeline.max_in_flight", \.pipeline.maxInFlight, .integer(1...10_000_000),
            "Records consumed but not yet acknowledged. At the bound the consumer waits for acknowledgements. If the wait lasts more than 1 s (a stalled broker), it pauses its partitions instead. Pausing makes librdkafka drop its prefetched records, so it is kept for stalls."
        ),
        .key(
            "pipeline.resume_below", \.pipeline.resumeBelow, .integer(0...10_000_000), default: "`max_in_flight / 2`",
            "The wait ends, or paused partitions resume, below this; it must be below `max_in_flight`."),
        .key(
            "pipeline.commit_interval", \.pipeline.commitInterval, .duration(minimum: .milliseconds(10)),
            "At-least-once: how often acknowledged offsets are committed (also on every revoke and on shutdown). After a crash, at most `max_in_flight` + one interval of traffic is decided again."
        ),
        .key(
            "pipeline.shutdown_timeout", \.pipeline.shutdownTimeout, .duration(minimum: .zero),
            "On SIGTERM: time to finish in-flight work, flush and commit; past it (or on a second signal) the service commits what is safe and exits 2."
        ),
        .key(
            "pipeline.revoke_timeout", \.pipeline.revokeTimeout, .duration(minimum: .zero),
            "On a rebalance: time to finish in-flight work of revoked partitions before committing and handing them over."),
        .key(
            "pipeline.unhealthy_after", \.pipeline.unhealthyAfter, .duration(minimum: .seconds(1)),
            "A partition held this long by a delivery error that retrying cannot fix (authorization, unknown topic, record too large) turns `/healthz` to 503, naming the partition, topic and error. Retriable errors (broker down, timeouts, leader moves) never do: they are retried with backoff (100 ms doubling to 30 s, with jitter) for as long as they take."
        ),
        .key(
            "pipeline.state_directory", \.pipeline.stateDirectory, .name, default: "none: snapshots go to `topics.state` only",
            "Stream aggregates only: a directory for snapshots of each partition's state, beside the state topic (a restart cache, docs/features.md). A partition taken again restores the newer of its two snapshots and reads only the log after it. On Kubernetes, a volume of the pod."
        ),
        .key(
            "pipeline.state_snapshot_interval", \.pipeline.stateSnapshotInterval, .duration(minimum: .seconds(1)),
            "How often each partition's state is written to the state topic and `state_directory` (also when a partition is revoked)."),
        .key("sidecar.host", \.sidecar.host, .name, "Address of the HTTP sidecar."),
        .key("sidecar.port", \.sidecar.port, .integer(0...65_535), "Its port (`--sidecar-port 0` picks a free one; `--port-file` writes it)."),
        .key(
            "sidecar.admin_token_file", \.sidecar.adminTokenFile, .name,
            "File holding the bearer token for `POST /admin/*`; re-read whenever it changes (a rotated Kubernetes Secret takes effect without a restart)."
        ),
        .key(
            "sidecar.admin_token_env", \.sidecar.adminTokenEnv, .name,
            "Or the environment variable holding it; with neither set, the admin endpoints answer 403."),
        .key(
            "dead_letters.max_original_bytes", \.deadLetters.maxOriginalBytes, .bytes(0...16_777_216),
            "How much of a refused record its dead letter embeds (a PAN-masked prefix; the envelope also carries `original_bytes` and `original_sha256`). Keeps every envelope far below `message.max.bytes`, so a huge input can never make a dead letter that cannot be published."
        ),
        .key(
            "logging.level", \.logging.level, .choice(Logger.Level.allCases.map(\.rawValue)),
            "`info` logs state changes only (start, assignment, reloads, shutdown), never one line per event."),
        .key("logging.format", \.logging.format, .choice(["json", "text"]), "`json` (one object per line, for log shippers) or `text`."),
    ]

    private static let sasl = ConfigurationKey.Block(
        create: { if $0.kafka.security.sasl == nil { $0.kafka.security.sasl = Kafka.Security.SASL() } },
        exists: { $0.kafka.security.sasl != nil })
    private static let tls = ConfigurationKey.Block(
        create: { if $0.kafka.security.tls == nil { $0.kafka.security.tls = Kafka.Security.TLS() } },
        exists: { $0.kafka.security.tls != nil })
}

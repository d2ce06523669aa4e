"""The producer settings a transaction processor should use for Verdict's input topic."""


def producer_config(brokers, client_id="processor"):
    return {
        "bootstrap.servers": brokers,
        "client.id": client_id,
        # Idempotence: retries never duplicate or reorder a card's events within a partition.
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": "lz4",
        "linger.ms": 2,
        # murmur2_random is Java's default partitioner: a card lands on the same partition whichever
        # client language produced it (librdkafka's own default, consistent_random, differs).
        "partitioner": "murmur2_random",
        # For SASL/TLS add: security.protocol, sasl.mechanism, sasl.username, sasl.password,
        # ssl.ca.location (docs/security.md).
    }

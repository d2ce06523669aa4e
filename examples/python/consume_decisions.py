"""A downstream consumer of Verdict's decisions (case management, a ledger), deduplicating by
transaction_id.

    python examples/python/consume_decisions.py --brokers localhost:9092 --topic decisions --group case-mgmt

Under at-least-once a decision can arrive twice (after a crash or a rebalance); both copies agree, so
process a transaction_id once. Here the seen set is in memory; in production it is the unique key of
the table the decision is written to, and offsets are committed only after that write.
Exits when --expect distinct decisions were seen, or after --idle seconds without a new one.
"""
import argparse
import collections
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--topic", default="decisions")
    parser.add_argument("--group", default="case-management")
    parser.add_argument("--expect", type=int, default=0, help="stop after this many distinct decisions (0: run until idle)")
    parser.add_argument("--idle", type=float, default=30.0)
    args = parser.parse_args()

    consumer = Consumer({"bootstrap.servers": args.brokers, "group.id": args.group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         # Exactly-once Verdict writes decisions in transactions: never read aborted ones.
                         "isolation.level": "read_committed"})
    consumer.subscribe([args.topic])
    seen = set()
    duplicates = 0
    by_decision = collections.Counter()
    last_new = time.monotonic()
    try:
        while time.monotonic() - last_new < args.idle and not (args.expect and len(seen) >= args.expect):
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                raise KafkaException(message.error())
            decision = json.loads(message.value())
            transaction_id = decision["transaction_id"]
            if transaction_id in seen:
                duplicates += 1
            else:
                seen.add(transaction_id)
                by_decision[decision["decision"]] += 1
                last_new = time.monotonic()
            # Commit after the decision is processed (here: counted), never before.
            consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
    counts = ", ".join(f"{name} {count}" for name, count in sorted(by_decision.items()))
    print(f"consume_decisions: {len(seen)} distinct decisions ({counts}), {duplicates} duplicates skipped")
    return 0 if not args.expect or len(seen) >= args.expect else 1


if __name__ == "__main__":
    sys.exit(main())

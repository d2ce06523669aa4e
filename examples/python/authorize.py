"""A synchronous authorisation against Verdict: produce one event, wait for its decision.

    python examples/python/authorize.py --brokers localhost:9092 --input transactions --decisions decisions

The authorisation host cannot wait forever: it waits at most --timeout seconds and otherwise
applies its stand-in policy (here: REVIEW), which is how a card network's stand-in processing works.
Exit 0 with the decision printed as JSON; exit 3 when it timed out and the stand-in applied.
"""
import argparse
import json
import sys
import time
import uuid

from confluent_kafka import OFFSET_END, Consumer, KafkaException, Producer, TopicPartition
from producer_config import producer_config
from transaction_events import encode, make_event, rng_for


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--input", default="transactions")
    parser.add_argument("--decisions", default="decisions")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for the decision")
    parser.add_argument("--stand-in", default="REVIEW", help="decision applied when Verdict does not answer in time")
    args = parser.parse_args()

    # Read the decisions from their current end, on every partition, before producing: the decision
    # cannot be missed, and no consumer group is needed (a waiting host is not a group member).
    consumer = Consumer({"bootstrap.servers": args.brokers, "group.id": f"authorize-{uuid.uuid4()}",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "fetch.wait.max.ms": 10})
    metadata = consumer.list_topics(args.decisions, timeout=10)
    topic = metadata.topics.get(args.decisions)
    if topic is None or topic.error is not None:
        print(f"authorize: decisions topic {args.decisions!r} not found", file=sys.stderr)
        return 2
    partitions = []
    for p in topic.partitions:  # the end of each partition now, before the event exists
        _, high = consumer.get_watermark_offsets(TopicPartition(args.decisions, p), timeout=10)
        partitions.append(TopicPartition(args.decisions, p, high if high >= 0 else OFFSET_END))
    consumer.assign(partitions)

    transaction_id = f"tx_auth_{uuid.uuid4().hex[:16]}"
    event = make_event(rng_for(time.time_ns()), transaction_id)
    key, value = encode(event)
    producer = Producer(producer_config(args.brokers, client_id="authorize"))
    producer.produce(args.input, key=key, value=value)
    if producer.flush(10):
        print("authorize: the event was not delivered", file=sys.stderr)
        return 2

    deadline = time.monotonic() + args.timeout
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(min(0.1, max(deadline - time.monotonic(), 0)))
            if message is None:
                continue
            if message.error():
                raise KafkaException(message.error())
            decision = json.loads(message.value())
            # Decisions are keyed by card: filter on the transaction id, and expect duplicates under
            # at-least-once (the first one wins; they agree).
            if decision.get("transaction_id") == transaction_id:
                print(json.dumps({"transaction_id": transaction_id, "decision": decision["decision"],
                                  "risk_score": decision.get("risk_score"), "reasons": decision.get("reasons", []),
                                  "waited_ms": round((args.timeout - (deadline - time.monotonic())) * 1000, 1)}))
                return 0
    finally:
        consumer.close()
    print(json.dumps({"transaction_id": transaction_id, "decision": args.stand_in, "stand_in": True}))
    return 3


if __name__ == "__main__":
    sys.exit(main())

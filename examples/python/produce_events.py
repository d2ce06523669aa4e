"""Produce v1 transaction events to Verdict's input topic, as a transaction processor does.

    python examples/python/produce_events.py --brokers localhost:9092 --topic transactions --count 1000

Prints the number delivered; exits 1 if any event could not be delivered.
"""
import argparse
import sys

from confluent_kafka import Producer
from producer_config import producer_config
from transaction_events import encode, make_event, rng_for


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--topic", default="transactions")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    producer = Producer(producer_config(args.brokers))
    failures = []

    def delivered(error, message):
        if error is not None:
            failures.append(error)

    rng = rng_for(args.seed)
    for i in range(args.count):
        key, value = encode(make_event(rng, f"tx_ex{args.seed}_{i:08d}"))
        headers = [("content-type", b"application/json"), ("schema-version", b"1")]
        while True:
            try:
                producer.produce(args.topic, key=key, value=value, headers=headers, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: serve delivery reports, then retry
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(30)
    if left or failures:
        print(f"produce_events: {len(failures)} failed, {left} undelivered: {failures[:3]}", file=sys.stderr)
        return 1
    print(f"produce_events: {args.count} events delivered to {args.topic}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Builds v1 transaction events (docs/contracts.md) the way a transaction processor would."""
import datetime
import json
import random

CHANNELS = ["card_present", "ecommerce", "atm", "p2p", "crypto_offramp"]


def make_event(rng, transaction_id, now=None):
    """One valid v1 event. `card_id` is a token, never a card number: a PAN there is refused."""
    now = now or datetime.datetime.now(datetime.UTC)
    amount = round(rng.lognormvariate(3.5, 1.0), 2)
    return {
        "schema_version": 1,
        "transaction_id": transaction_id,
        "event_time": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "card_id": f"card_{rng.randrange(5000):06d}",
        "amount": amount,
        "currency": "USD",
        "amount_usd": amount,
        "merchant_id": f"m_{rng.randrange(800):05d}",
        "merchant_category": rng.choice(["5411", "5812", "5999", "6051", "4829"]),
        "merchant_country": rng.choice(["US", "US", "US", "GB", "DE"]),
        "card_country": "US",
        "channel": rng.choice(CHANNELS),
        "card_age_days": rng.randrange(2000),
        "transactions_last_24h": rng.randrange(8),
        "avg_transaction_amount": round(rng.lognormvariate(3.5, 0.6), 2),
    }


def encode(event):
    """The record's key (card_id: a card's events stay in one partition, in order) and value."""
    return event["card_id"].encode(), json.dumps(event, separators=(",", ":")).encode()


def rng_for(seed):
    return random.Random(seed)

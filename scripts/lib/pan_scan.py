"""Finds card numbers (13-19 digits passing the Luhn check, contiguous or in groups of four)
in files. Committed fixtures may only carry the card networks' published test numbers, listed in
ALLOWED: a real PAN in a fixture is cardholder data in the repository.

usage: python pan_scan.py [--exclude SUBSTRING]... PATH...
  (directories are walked; exit 1 when a disallowed number is found)
"""
import os
import re
import sys

# The networks' and processors' public test numbers (Visa, Mastercard, Amex, Discover, JCB, Diners,
# UnionPay, Maestro) that the PAN tests use on purpose.
ALLOWED = {
    "4111111111111111", "4242424242424242", "4012888888881881", "4000056655665556", "4222222222222",
    "4917610000000000", "4462030000000000", "4988438843884305", "4000000000000002", "4000000000000077",
    "5555555555554444", "5105105105105100", "5200828282828210", "2223003122003222", "5454545454545454",
    "378282246310005", "371449635398431", "378734493671000", "340000000000009",
    "6011111111111117", "6011000990139424", "6011000000000004",
    "3530111333300000", "3566002020360505", "3566111111111113",
    "30569309025904", "38520000023237", "36148900647913",
    "6200000000000005", "6759649826438453", "6304000000000000", "5018000000000009", "5500005555555559",
}
# A run of 13-19 digits, or groups of four joined by one kind of separator ("4111 1111 1111 1111"),
# not part of a decimal number, an identifier or a hash.
CANDIDATE = re.compile(r"(?<![0-9A-Za-z.+_-])(?:[0-9]{13,19}|[0-9]{4}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{1,7})(?![0-9A-Za-z.+_-])")
SKIP_DIRS = {".git", ".build", ".run", "node_modules", "__pycache__"}


def luhn(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def files(paths, excluded):
    for path in paths:
        if os.path.isdir(path):
            for directory, subdirs, names in os.walk(path):
                subdirs[:] = [d for d in subdirs if d not in SKIP_DIRS and not d.startswith(".venv")]
                for name in names:
                    candidate = os.path.join(directory, name)
                    if not any(part in candidate for part in excluded):
                        yield candidate
        elif os.path.exists(path):
            yield path


def main(arguments):
    excluded, paths = [], []
    iterator = iter(arguments)
    for argument in iterator:
        if argument == "--exclude":
            excluded.append(next(iterator))
        else:
            paths.append(argument)
    found = 0
    for path in files(paths or ["."], excluded):
        try:
            with open(path, encoding="utf-8", errors="ignore") as handle:
                text = handle.read()
        except OSError:
            continue
        for match in CANDIDATE.finditer(text):
            digits = re.sub(r"[ -]", "", match.group(0))
            if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn(digits) and digits not in ALLOWED:
                line = text.count("\n", 0, match.start()) + 1
                print(f"{path}:{line}: a Luhn-valid card number {digits[:6]}...{digits[-4:]} that is not a published test number",
                      file=sys.stderr)
                found += 1
    if found:
        print(f"pan_scan: {found} card number(s) found; use a network test number (scripts/lib/pan_scan.py ALLOWED)", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

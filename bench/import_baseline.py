"""The Python baseline of the import benchmark: the same rows, the same work
(CSV parse, phone parse + validity + E.164 with the `phonenumbers` package,
email check, de-duplication), timed best-of-N in this process.

usage: import_baseline.py FILE REGION RUNS  -> prints seconds of the best run
"""
import csv
import io
import sys
import time

import phonenumbers


def import_file(text, region):
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader)]
    col = header.index("number")
    email_col = header.index("email") if "email" in header else None
    seen, accepted, rejected, duplicates = {}, [], 0, 0
    for line, row in enumerate(reader, start=2):
        raw = row[col].strip() if col < len(row) else ""
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            rejected += 1
            continue
        if not phonenumbers.is_valid_number(number):
            rejected += 1
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if email_col is not None and row[email_col]:
            local, _, domain = row[email_col].partition("@")
            if not local or "." not in domain:
                rejected += 1
                continue
        if e164 in seen:
            duplicates += 1
            continue
        seen[e164] = line
        accepted.append(e164)
    return len(accepted), duplicates, rejected


def main():
    path, region, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    text = open(path, encoding="utf-8").read()
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = import_file(text, region)
        best = min(best, time.perf_counter() - start)
    print(f"{best:.6f} {result[0]} {result[1]} {result[2]}")


main()

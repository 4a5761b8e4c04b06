"""Independent Sigma evaluator for the differential test (core/test/detection/differential.test.ts).

Reads {"pools": [{"events": [{field: value}], "rules": [{"id", "yaml"}]}]} from the file named
by argv[1], converts each rule to SQL with pySigma's SQLite backend, loads each pool's events
into an in-memory table, runs every rule of the pool against all of them and writes
{id: {"matches": [event indexes in the pool]} | {"error": "..."}} to argv[2].
One process for every rule: pySigma's import and backend set-up are paid once.
"""

import json
import re
import sqlite3
import sys

from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.policy.profiles import TrustedPolicy

FULLTEXT = "_fulltext"


def regexp(pattern, value):
    # pySigma's REGEXP contract: false for NULL, re.search semantics.
    if value is None:
        return False
    return re.search(pattern, str(value)) is not None


def quote(name):
    return '"' + name.replace('"', '""') + '"'


def convert(backend, text):
    collection = SigmaCollection.from_yaml(text, policy=TrustedPolicy)
    rules = [r for r in collection.rules if r.__class__.__name__ == "SigmaRule"]
    if not rules:
        raise ValueError("no detection rule in the document")
    queries = backend.convert(collection)
    if not queries:
        raise ValueError("pySigma produced no query")
    prefix = "SELECT * FROM logs WHERE "
    for q in queries:
        if not q.startswith(prefix):
            raise ValueError(f"unexpected query shape: {q[:80]}")
    fields = {f for r in rules for f in backend.required_fields(r)}
    return ["SELECT rowid FROM logs WHERE " + q[len(prefix):] for q in queries], fields


def run_pool(backend, pool, out):
    """One table of the pool's events; every rule of the pool is queried against all of them."""
    converted = {}
    for item in pool["rules"]:
        try:
            converted[item["id"]] = convert(backend, item["yaml"])
        except Exception as e:  # one rule's failure is reported, not fatal
            out[item["id"]] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    events = pool["events"]
    columns = {}
    for ev in events:
        for key in ev:
            columns.setdefault(key.lower(), key)
    for _, fields in converted.values():
        for field in fields:
            columns.setdefault(field.lower(), field)
    columns.pop(FULLTEXT.lower(), None)
    con = sqlite3.connect(":memory:")
    con.create_function("regexp", 2, regexp, deterministic=True)
    # NUMERIC affinity: numbers compare as numbers (|lt, |gt), text stays text; NOCASE as in Zircolite.
    names = list(columns.values())
    cols = [f"{quote(c)} NUMERIC COLLATE NOCASE" for c in names]
    cols.append(f"{quote(FULLTEXT)} TEXT COLLATE NOCASE")
    con.execute(f"CREATE TABLE logs ({', '.join(cols)})")
    insert = f"INSERT INTO logs ({', '.join(quote(c) for c in names + [FULLTEXT])}) VALUES ({', '.join('?' * (len(names) + 1))})"
    rows = []
    for ev in events:
        lower = {k.lower(): v for k, v in ev.items()}
        fulltext = "\n".join(str(v) for v in ev.values() if v is not None)
        rows.append([lower.get(c.lower()) for c in names] + [fulltext])
    con.executemany(insert, rows)
    for rid, (queries, _) in converted.items():
        try:
            matched = set()
            for q in queries:
                matched.update(r[0] - 1 for r in con.execute(q))
            out[rid] = {"matches": sorted(matched)}
        except Exception as e:
            out[rid] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    con.close()


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        data = json.load(f)
    backend = sqliteBackend(fulltext_field=FULLTEXT)
    out = {}
    for pool in data["pools"]:
        run_pool(backend, pool, out)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()

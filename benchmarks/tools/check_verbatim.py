"""Is every sentence a written-answer run showed a verbatim span of some article of the corpus?

    python3 benchmarks/tools/check_verbatim.py CORPUS.jsonl.gz RECORDS.jsonl

CORPUS is a benchmark corpus (JSON lines with ``text``, gzipped); RECORDS is ``bench_llm.py --records``
output, whose ``shown`` lists each sentence shown to the user. Whitespace is normalised on both sides.
Prints each sentence that is not verbatim, then the counts; exits 1 if any is not.
"""

from __future__ import annotations

import gzip
import json
import sys


def _normal(text: str) -> str:
    return " ".join(text.split())


def main(corpus: str, records: str) -> int:
    with gzip.open(corpus, "rt", encoding="utf-8") as lines:
        articles = "\n".join(_normal(json.loads(line).get("text") or "") for line in lines)
    shown = missing = 0
    with open(records, encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            for sentence in record["shown"]:
                shown += 1
                if _normal(sentence["text"]) not in articles:
                    missing += 1
                    print(f"not verbatim ({record['id']}): {sentence['text'][:200]}")
    print(f"{shown} shown sentences, {missing} not verbatim in any article")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))

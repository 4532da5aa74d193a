"""The clustering evaluation table: both methods on the three corpora, as the README shows.

Runs ``run_eval`` (what ``newsbot eval clustering`` calls) for the tracker's shipped
configuration, lexical and with the sentence encoder, and the naive baseline on
googlenews-t (file order), googlenews-ts (file order) and uci (shuffled, seed 0), plus
two rows that show robustness: uci in file order, and uci shuffled with the corpus
times replaced by arrival order (its times are crawl times that nearly label the
stories). Prints a Markdown table and then one JSON object with every result and the
B-cubed F1 gains over the baseline.

Run: ``.venv/bin/python bench/eval_all.py [--no-memory] [--encoders none,use]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from stories.evaluation import Order, corpus_available, markdown_table, run_eval

RUNS: tuple[tuple[str, Order, bool], ...] = (
    ("googlenews-t", "file", False),
    ("googlenews-ts", "file", False),
    ("uci", "shuffle", False),
    ("uci", "file", False),
    ("uci", "shuffle", True),
)


def main() -> None:
    """Run every evaluation and print the table and JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc run")
    parser.add_argument(
        "--encoders",
        default="none,use",
        help="the tracker's encoders to run, comma-separated (none: lexical; use: sentence vectors)",
    )
    args = parser.parse_args()
    encoders = [e for e in args.encoders.split(",") if e]
    results: list[dict[str, Any]] = []
    gains: dict[str, float] = {}
    for dataset, order, arrival in RUNS:
        if not corpus_available(dataset):
            print(f"skipping {dataset}: corpus absent", file=sys.stderr)
            continue
        runs = [("baseline", "none")] + [("tracker", e) for e in encoders]
        scores: dict[str, float] = {}
        for method, encoder in runs:
            r = run_eval(
                dataset,
                order=order,
                method=method,
                measure_memory=not args.no_memory,
                arrival_clock=arrival,
                encoder=encoder,
            )
            results.append(r)
            name = method if method == "baseline" else f"tracker/{encoder}"
            scores[name] = r["bcubed_f1"]
            print(f"done {dataset} {order} {name} clock={r['clock']}", file=sys.stderr)
        label = f"{dataset}/{order}" + ("/arrival-clock" if arrival else "")
        for name, f1 in scores.items():
            if name != "baseline":
                gains[f"{label}/{name}"] = round(f1 - scores["baseline"], 4)
    print(markdown_table(results))
    print(json.dumps({"results": results, "bcubed_f1_gain_over_baseline": gains}, indent=2))


if __name__ == "__main__":
    main()

"""Turn `dspark-chat bench --json` results into the Markdown table the README and docs/benchmarks.md show.

    python benchmarks/bench_table.py docs/benchmarks/cpu-*.json

Each file is one bench run (plain and speculative side by side in one process), so every ratio in the table was
measured under the same machine load as its own baseline.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HEADER = ("| target | drafter (mode) | prompts | plain tok/s | dspark tok/s | ratio | median | min "
          "| acceptance | identical |\n|---|---|---|---|---|---|---|---|---|---|")


def row(path: Path) -> str:
    result = json.loads(path.read_text())
    s, settings = result["summary"], result["settings"]
    drafter = Path(settings["drafter"]).name if settings.get("drafter") else "none"
    acceptance = f"{s['acceptance_rate']:.1%} ({s['accepted']}/{s['verified']})" if s["acceptance_rate"] is not None \
        else "-"
    return (f"| {Path(settings['target']).name} | {drafter} ({result['mode']}) | {s['total']} "
            f"| {s['plain_tokens_per_s']} | {s['speculative_tokens_per_s']} | **{s['speedup_total']:.2f}x** "
            f"| {s['speedup_median']:.2f}x | {s['speedup_min']:.2f}x | {acceptance} | {s['identical']}/{s['total']} |")


def main(paths: list[str]) -> None:
    print(HEADER)
    for p in paths:
        print(row(Path(p)))


if __name__ == "__main__":
    main(sys.argv[1:])

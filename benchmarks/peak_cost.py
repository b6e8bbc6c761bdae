"""Host microseconds per drafted token: a greedy drafter's token and confidence from a row of logits.

Compares engine/peak.py (one pass) with the exact computation the model drafter used before it (argmax, then
softmax's top value from three more passes; a pipelined drafter also copied the row out of llama.cpp's buffer
before launching its next step). Rows come from real decodes: a Gemma 3 270M generation (262144 logits, no ties)
and the GPU benchmark's synthetic drafter on its `host` shape (128256 logits, mostly exact zeros). Prints
microseconds per row and the largest difference between the two confidences.

    python -m benchmarks.peak_cost --gemma tests/.models/gemma-3-270m-q4_k_m.gguf --synthetic /tmp/hostfiles
"""

from __future__ import annotations

import llama_cpp  # noqa: F401  (before numpy: see engine/__init__.py on CUDA builds)

import argparse
import json
import timeit
from pathlib import Path

import numpy as np

from dspark_chat.engine.llama import Context, Model, init_backend
from dspark_chat.engine.peak import PeakFinder

STEPS = 24


def rows_of(model_path: str, prompt: list[int] | str) -> np.ndarray:
    """Logit rows of a greedy generation of STEPS tokens."""
    model = Model(model_path)
    ctx = Context(model, 512, 64, 2)
    try:
        tokens = model.tokenize(prompt) if isinstance(prompt, str) else list(prompt)
        logits, pos, rows = ctx.decode(tokens, 0, "last"), len(tokens), []
        for _ in range(STEPS):
            rows.append(logits[0].copy())
            x = int(logits[0].argmax())
            logits = ctx.decode([x], pos, "last")
            pos += 1
        return np.array(rows)
    finally:
        ctx.close()
        model.close()


def exact(row: np.ndarray, copy: np.ndarray, scratch: np.ndarray) -> tuple[int, float]:
    x = int(row.argmax())
    np.copyto(copy, row)  # the pipelined drafter's copy: its next launch overwrites llama.cpp's buffer
    np.subtract(copy, copy[x], out=scratch)
    np.exp(scratch, out=scratch)
    return x, float(1.0 / scratch.sum())


def compare(name: str, rows: np.ndarray) -> dict:
    n = rows.shape[1]
    find, copy, scratch = PeakFinder(n), np.empty(n, np.float32), np.empty(n, np.float32)

    def per_row(fn) -> float:
        best = min(timeit.repeat(lambda: [fn(r) for r in rows], number=20, repeat=5))
        return 1e6 * best / (20 * len(rows))

    ours = [find(r) for r in rows]
    theirs = [exact(r, copy, scratch) for r in rows]
    return {
        "rows": name, "n_vocab": n,
        "exact_us": per_row(lambda r: exact(r, copy, scratch)),
        "one_pass_us": per_row(find),
        "same_tokens": all(a[0] == b[0] for a, b in zip(ours, theirs)),
        "max_conf_diff": max(abs(a[1] - b[1]) for a, b in zip(ours, theirs)),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gemma", help="a Gemma 3 270M GGUF (real rows)")
    ap.add_argument("--synthetic", type=Path, help="a folder of benchmarks.gpu_files --shape host")
    ap.add_argument("--tag", default="a080", help="which synthetic drafter")
    args = ap.parse_args(argv)
    init_backend()
    results = []
    if args.gemma:
        results.append(compare("gemma-3-270m", rows_of(args.gemma, "The history of the Roman Empire begins with")))
    if args.synthetic:
        manifest = json.loads((args.synthetic / "manifest.json").read_text())
        rows = rows_of(manifest["model_drafters"][args.tag], manifest["prompt_ids"][:20])
        results.append(compare(f"synthetic drafter {args.tag}", rows))
    for r in results:
        print(f"{r['rows']:>24} ({r['n_vocab']} logits): exact {r['exact_us']:6.1f} us, one pass "
              f"{r['one_pass_us']:6.1f} us ({r['exact_us'] / r['one_pass_us']:.2f}x), same tokens "
              f"{r['same_tokens']}, largest confidence difference {r['max_conf_diff']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The scheduler over whole generations, simulated with an H100's measured costs: what would drafting make?

A GPU run costs device time and shows one sample of the scheduler's luck; this replays the real Scheduler class
over thousands of simulated rounds and seeds in a second. The drafter is the synthetic GPU pairs' (gpu_files.py):
each drafted token is right with probability alpha, with confidence 0.9 when right and 0.5 when wrong. The
costs: the 8B-shape target's verify curve with its shape-change and capture charges (docs/benchmarks.md, runs
A and E), a 1B drafter step of 1.4 ms, 0.3 ms of Python a round. A drafter that sat out plain steps pays a return
(catching up in one batch); a feature-reading drafter (switch > 0) has the target copy features as Session
drives it: each switch of the copy costs the next verify `switch` seconds and copying costs each verify 4%.
tests/test_scheduler.py asserts on these simulations; this prints them:

    python -m benchmarks.scheduler_sim [--rounds 600 2000] [--seeds 4] [--blocks]

--blocks replays a native DSpark drafter instead (blocks in one decode, run N's costs), planned and forced.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from dspark_chat.engine.costs import CostCurve
from dspark_chat.engine.scheduler import ScheduleConfig, Scheduler

MS = 1e-3
H100_8B_Q4 = {1: 3.69 * MS, 2: 4.10 * MS, 4: 5.50 * MS, 8: 8.08 * MS, 9: 8.2 * MS, 16: 7.82 * MS, 17: 7.9 * MS,
              33: 12.0 * MS}
SHAPE_CHANGE = 1.2 * MS
CAPTURE = 4.9 * MS
DRAFT_STEP = 1.4 * MS
ROUND_PYTHON = 0.3 * MS
COPY_SHARE = 0.04  # a verify's extra while the target copies features (run C)
BAD_START_EXTRA = 15 * MS


@dataclass
class Simulated:
    speedup: float  # tokens per second against plain steps'
    verified: list[int]  # drafts verified in each round
    switches: int  # of the feature copy


def h100_curve() -> CostCurve:
    return CostCurve(dict(H100_8B_Q4), shape_change=SHAPE_CHANGE, capture=CAPTURE)


def simulate(alpha: float, rounds: int, seed: int, bad_start: int = 0, switch: float = 0.0) -> Simulated:
    """bad_start: the first drafting rounds that cost BAD_START_EXTRA more (graphs captured for new batch sizes, a
    drafter warming up: what stopped drafting for whole runs at alpha 0.8 on an H100, run H)."""
    rng = np.random.default_rng(seed)
    behind = 50  # tokens the drafter has not seen (the prompt, at first)

    def catch_up() -> float:
        return DRAFT_STEP if behind <= 1 else 2.5 * DRAFT_STEP + 3 * MS

    def draft_cost(k: int) -> float:
        return catch_up() + max(0, k - 1) * DRAFT_STEP

    curve = h100_curve()
    sched = Scheduler(h100_curve(), draft_cost, ScheduleConfig())
    seconds = tokens = 0.0
    drafting_rounds = switches = 0
    copying = False
    verified = []
    for _ in range(rounds):
        n_max = sched.plan(16)
        confs, right, sunk = [], [], 0.0
        if n_max:
            # as ModelDrafter: each position's confidence is known before the gate decides on it
            sunk = catch_up()
            while True:
                hit = bool(rng.random() < alpha)
                conf = 0.9 if hit else 0.5
                if not sched.include([*confs, conf], sunk, DRAFT_STEP):
                    break
                confs.append(conf)
                right.append(hit)
                if len(confs) >= n_max or not sched.keep_drafting(confs, sunk, DRAFT_STEP):
                    break
                sunk += DRAFT_STEP
            behind = 1
            drafting_rounds += 1
        else:
            behind += 1
        k = sched.choose(np.array(confs), sunk) if confs else 0
        m = 0
        while m < k and right[m]:
            m += 1
        switched = bool(switch) and sched.drafting_soon(copying) != copying
        if switched:
            copying = not copying
            switches += 1
        verify = (curve(k + 1) + sched._shape_extra(k + 1)) * (1.0 + COPY_SHARE if copying else 1.0)
        verify += switch if switched else 0.0
        if n_max and drafting_rounds <= bad_start:
            verify += BAD_START_EXTRA
        sched.observe(np.array(confs), k, m, verify, ROUND_PYTHON, sunk, switched, copying if switch else None)
        seconds += sunk + verify + ROUND_PYTHON
        tokens += m + 1
        verified.append(k)
    return Simulated(tokens / seconds * (curve(1) + ROUND_PYTHON), verified, switches)


# A native DSpark drafter on run N's H100 (docs/benchmarks.md): a block of n positions in one decode, its injection
# included, and the host's work of a drafting round; its confidence head is near-certain either way (the synthetic
# pairs' sigmoid(+-3)), and the copy of the target's features and its switches cost what run N measured.
BLOCK_BASE, BLOCK_POSITION = 1.3 * MS, 0.1 * MS
BLOCK_PYTHON, PLAIN_PYTHON = 0.5 * MS, 0.06 * MS
BLOCK_SWITCH, BLOCK_COPY = 2.0 * MS, 0.027


def simulate_blocks(alpha: float, rounds: int, seed: int, force: int = 0) -> Simulated:
    """The scheduler driving a block drafter as Session does (plan with block=True, then choose); force: draft a
    block of this size every round instead of the plan's (what drafting would make if it never stopped)."""
    rng = np.random.default_rng(seed)

    def block_cost(n: int) -> float:
        return BLOCK_BASE + BLOCK_POSITION * n

    curve = h100_curve()
    sched = Scheduler(h100_curve(), block_cost, ScheduleConfig())
    seconds = tokens = 0.0
    switches = 0
    copying = False
    verified = []
    for _ in range(rounds):
        n = force or sched.plan(16, True)
        right = [bool(rng.random() < alpha) for _ in range(n)]
        confs = np.array([0.95 if hit else 0.05 for hit in right])
        sunk = block_cost(n) if n else 0.0
        k = sched.choose(confs, sunk) if n else 0
        m = 0
        while m < k and right[m]:
            m += 1
        switched = sched.drafting_soon(copying) != copying
        if switched:
            copying = not copying
            switches += 1
        verify = (curve(k + 1) + sched._shape_extra(k + 1)) * (1.0 + BLOCK_COPY if copying else 1.0)
        verify += BLOCK_SWITCH if switched else 0.0
        python = BLOCK_PYTHON if n else PLAIN_PYTHON
        sched.observe(confs, k, m, verify, python, sunk, switched, copying)
        seconds += sunk + verify + python
        tokens += m + 1
        verified.append(k)
    return Simulated(tokens / seconds * (curve(1) + PLAIN_PYTHON), verified, switches)


SCENARIOS = {  # name -> (alpha, bad_start, switch)
    "model 0": (0.0, 0, 0.0), "model 0.6": (0.6, 0, 0.0), "model 0.8": (0.8, 0, 0.0),
    "model 0.8 bad start": (0.8, 6, 0.0), "model 0.9 bad start": (0.9, 6, 0.0),
    "features 0": (0.0, 0, 40 * MS), "features 0.6": (0.6, 0, 40 * MS), "features 0.8 bad start": (0.8, 6, 40 * MS),
}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, nargs="+", default=[600, 2000])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--blocks", action="store_true",
                    help="a native DSpark drafter instead: planned blocks, and blocks of 2, 4, 8, 16 forced every round")
    args = ap.parse_args(argv)
    if args.blocks:
        print_blocks(args)
        return
    print("| scenario | rounds | x plain per seed | rounds with verified drafts | feature-copy switches |")
    print("|---|---|---|---|---|")
    for name, (alpha, bad_start, switch) in SCENARIOS.items():
        for rounds in args.rounds:
            runs = [simulate(alpha, rounds, seed, bad_start, switch) for seed in range(args.seeds)]
            ratios = " ".join(f"{r.speedup:.3f}" for r in runs)
            drafting = " ".join(str(sum(1 for k in r.verified if k)) for r in runs)
            switches = " ".join(str(r.switches) for r in runs)
            print(f"| {name} | {rounds} | {ratios} | {drafting} | {switches} |")


def print_blocks(args) -> None:
    print("| alpha | blocks | rounds | x plain per seed | rounds with verified drafts |")
    print("|---|---|---|---|---|")
    for alpha in (0.0, 0.6, 0.7, 0.8, 0.9):
        for force in (0, 2, 4, 8, 16):
            for rounds in args.rounds:
                runs = [simulate_blocks(alpha, rounds, seed, force) for seed in range(args.seeds)]
                ratios = " ".join(f"{r.speedup:.3f}" for r in runs)
                drafting = " ".join(str(sum(1 for k in r.verified if k)) for r in runs)
                print(f"| {alpha} | {force or 'planned'} | {rounds} | {ratios} | {drafting} |")


if __name__ == "__main__":
    main()

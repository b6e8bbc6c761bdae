"""An incremental index of the conversation's n-grams, for prompt-lookup drafting.

Scanning the whole history every round costs O(length) per drafted round, which on a small model's 5 ms steps is
several percent of the time; the index only adds the tokens committed since the last round. The history only
grows between rounds of one answer (rejected drafts never enter it); when a new turn rewrites it, the index is
rebuilt once.
"""

from __future__ import annotations

from typing import Sequence


class NgramIndex:
    def __init__(self, min_n: int, max_n: int):
        self.min_n, self.max_n = min_n, max_n
        self._tokens: list[int] = []
        # per n: n-gram -> [position right after its latest occurrence, counts of the tokens that followed it]
        self._seen: dict[int, dict[tuple[int, ...], list]] = {n: {} for n in range(min_n, max_n + 1)}

    def sync(self, history: Sequence[int]) -> None:
        """Bring the index up to `history` (an extension of what it holds, or anything else: rebuilt)."""
        have = len(self._tokens)
        if len(history) < have or list(history[:have]) != self._tokens:
            self._tokens = []
            self._seen = {n: {} for n in self._seen}
            have = 0
        self._tokens.extend(history[have:])
        toks = self._tokens
        for nxt in range(max(have, 1), len(toks)):  # the n-grams that end right before token `nxt`
            follower = toks[nxt]
            for n, table in self._seen.items():
                if nxt < n:
                    break
                key = tuple(toks[nxt - n:nxt])
                entry = table.get(key)
                if entry is None:
                    # a plain dict: a Counter per new n-gram was half of an n-gram round's Python
                    table[key] = [nxt, {follower: 1}]
                else:
                    entry[0] = nxt
                    counts = entry[1]
                    counts[follower] = counts.get(follower, 0) + 1

    def lookup(self, n_max: int) -> tuple[list[int], int, int]:
        """(continuation of the latest earlier occurrence of the longest matching suffix, its n, how many earlier
        occurrences agree on the first token); ([], 0, 0) when no suffix of min_n..max_n tokens occurred before."""
        toks = self._tokens
        for n in range(self.max_n, self.min_n - 1, -1):
            if len(toks) <= n:
                continue
            entry = self._seen[n].get(tuple(toks[-n:]))
            if entry is not None:
                start = entry[0]
                cont = toks[start:start + n_max]
                return cont, n, entry[1].get(cont[0], 0)
        return [], 0, 0

"""Tokens -> streamed text: multi-byte characters split across tokens, and stop strings.

Text is only released once it can no longer become part of a stop string, so a caller never shows text that is
taken back later.
"""

from __future__ import annotations

import codecs
from typing import Callable, Sequence


class TextStream:
    def __init__(self, piece: Callable[[int], bytes], stop: Sequence[str] = ()):
        self._piece = piece
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.stop = [s for s in stop if s]
        self._hold = max((len(s) for s in self.stop), default=1) - 1
        self.text = ""  # everything decoded so far (stop string excluded once hit)
        self._released = 0  # characters of self.text already handed out
        self.stopped = False

    def push(self, tokens: Sequence[int]) -> list[str]:
        """Add tokens; return the text each one released, in order ('' while a character is incomplete).

        After a stop string is found, `stopped` is set and the rest is cut.
        """
        if not self.stop:
            return self._push_plain(tokens)
        out: list[str] = []
        for t in tokens:
            if self.stopped:
                break
            self.text += self._decoder.decode(self._piece(t))
            if self.stop:
                self._find_stop()
            out.append(self._release(final=self.stopped))
        return out

    def _push_plain(self, tokens: Sequence[int]) -> list[str]:
        """push without stop strings: nothing is held back (and nothing stops), so each token releases exactly the
        text it decoded to, and the text grows once a round instead of once a token."""
        decode, piece = self._decoder.decode, self._piece
        out = [decode(piece(t)) for t in tokens]
        self.text += "".join(out)
        self._released = len(self.text)
        return out

    def flush(self) -> str:
        """The held-back tail, at the end of generation."""
        if not self.stopped:
            self.text += self._decoder.decode(b"", final=True)
        return self._release(final=True)

    def _find_stop(self) -> None:
        # a stop string can only end inside the newest part of the text
        start = max(0, self._released - self._hold - 8)
        best = -1
        for s in self.stop:
            i = self.text.find(s, start)
            if i >= 0 and (best < 0 or i < best):
                best = i
        if best >= 0:
            self.text = self.text[:best]
            self.stopped = True

    def _release(self, final: bool) -> str:
        end = len(self.text) if final or not self.stop else max(self._released, len(self.text) - self._hold)
        piece = self.text[self._released : end]
        self._released = end
        return piece

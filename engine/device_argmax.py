"""The target's greedy tokens taken on the device: one argmax over a batch's output rows, one int a row copied back.

Greedy verification needs the target's argmax of each verified row. On the host that costs a copy of every row's
logits (128256 floats for an 8B Llama) and a pass over each while the GPU waits: most of the Python a DSpark round
pays that the GPU does not hide (docs/benchmarks.md run N). llama.cpp's backend sampling takes a greedy sampler's
argmax in the graph; with `packaging/patch_rows_argmax.py` that is one op for all rows (stock llama.cpp builds one
op per row, ~50 us a row on an H100, about what the host's pass costs).

On by default where the target's layers are on a GPU and libllama carries the patch (the build install.sh makes
for CUDA): run U on an H100 took the Python share of a DSpark round at alpha 0.8 from 4.5-6.9% to 3.8-4.3% with
verifies no dearer (docs/benchmarks.md). DSPARK_DEVICE_ARGMAX=1 forces it on (stock llama.cpp and the CPU too:
the tests), =0 off. Runs Q and T had found each verify 0.4-0.6 ms dearer with it, but they timed llama.cpp's own
path, one argmax op per row with every row's logits still copied (the patch's check missed the name llama.cpp
gives an initialized sampler; fixed after run T). With llama.cpp's stock CUDA graph key greedy sessions with it
on aborted with a CUDA fault (runs O to Q); the build install.sh makes keys graphs by shape too, and there it
passed every GPU test (run T).

A greedy model drafter takes its steps the same way, each token with its probability (its confidence; the patch's
dspark_rows_probs): run V measured its Python share at alpha 0.8 at 4.0-4.3% of a round against 5.5-10.3% with the
logits copied and passed over on the host (engine/peak.py); run W 1.35-1.38x plain against 1.17-1.26x.
DSPARK_DRAFTER_ON_DEVICE=1 or 0 overrides it.
"""

from __future__ import annotations

import ctypes
import os
import re

import llama_cpp as ll
import numpy as np

from .errors import DecodeError

ENV = "DSPARK_DEVICE_ARGMAX"  # 1: on (stock llama.cpp and the CPU too: tests); 0: off; unset: see wanted()
# the model drafter's greedy steps (token and confidence) on the device: 1 or 0; unset: as ENV decides for targets
DRAFTER_ENV = "DSPARK_DRAFTER_ON_DEVICE"

_sampled_token = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_int32)(
    ("llama_get_sampled_token_ith", ll.llama_cpp._lib))
_sampled_probs = ctypes.CFUNCTYPE(ctypes.POINTER(ctypes.c_float), ctypes.c_void_p, ctypes.c_int32)(
    ("llama_get_sampled_probs_ith", ll.llama_cpp._lib))


def _bulk_tokens():
    """The patch's dspark_sampled_tokens(ctx, first, n, out), or None where the library lacks it."""
    fn = getattr(ll.llama_cpp._lib, "dspark_sampled_tokens", None)
    if fn is not None:
        fn.argtypes = (ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_void_p)
        fn.restype = ctypes.c_int32
    return fn


def _mark_probs():
    """The patch's dspark_rows_probs(chain, on), or None where the library lacks it."""
    fn = getattr(ll.llama_cpp._lib, "dspark_rows_probs", None)
    if fn is not None:
        fn.argtypes, fn.restype = (ctypes.c_void_p, ctypes.c_int), None
    return fn


def patched() -> bool:
    """Does the loaded libllama carry packaging/patch_rows_argmax.py?"""
    try:
        return bool(ll.llama_cpp._lib.dspark_rows_argmax())
    except AttributeError:
        return False


def probs_patched() -> bool:
    """Can the loaded libllama report a greedy row's probability beside its token (a drafter's confidence)?
    Not where DSPARK_ONE_ARGMAX=0 sends the patched library down llama.cpp's stock path, which has no probability."""
    one_op = os.environ.get("DSPARK_ONE_ARGMAX", "")
    stock = one_op != "" and not re.match(r"\s*[+-]?0*[1-9]", one_op)  # the patch reads it with atoi()
    return _mark_probs() is not None and not stock


def wanted(n_gpu_layers: int, gpu: bool | None = None, has_patch: bool | None = None) -> bool:
    """Should a target context take its greedy tokens on the device? DSPARK_DEVICE_ARGMAX=1 or 0 decides; else
    yes where the target's layers go to a GPU and the library has the patch (one op, no logits copied: run U).
    A CPU build gains nothing (the same argmax, in ggml instead of numpy). gpu and has_patch default to what the
    loaded libllama says."""
    env = os.environ.get(ENV, "")
    if env in ("0", "1"):
        return env == "1"
    if n_gpu_layers == 0:
        return False
    if gpu is None:
        from .llama import supports_gpu_offload  # here: engine/llama.py imports this module

        gpu = supports_gpu_offload()
    return gpu and (patched() if has_patch is None else has_patch)


def drafter_wanted(n_gpu_layers: int, gpu: bool | None = None) -> bool:
    """Should a model drafter take its greedy steps' tokens and confidences on the device? As wanted() decides
    for a target (DSPARK_DRAFTER_ON_DEVICE=1 or 0 overrides it), and only where the library gives a row's
    probability (probs_patched)."""
    env = os.environ.get(DRAFTER_ENV, "")
    on = env == "1" if env in ("0", "1") else wanted(n_gpu_layers, gpu)
    return on and probs_patched()


class RowsArgmax:
    """A greedy sampler on a context's sequence 0, set while generations are greedy. Setting or clearing it makes
    llama.cpp rebuild its graphs (and the logits are not copied while it is set), so it is switched only when a
    generation's sampling mode differs from the last one's. with_probs (a drafter: needs probs_patched()): each
    row's token comes with its probability, softmax(row)[token]."""

    def __init__(self, ctx_ptr, with_probs: bool = False):
        self._ctx = ctx_ptr
        self._chains = []  # freed with the context: llama.cpp initializes a chain on a context once only
        self._mark = _mark_probs() if with_probs else None
        self._bulk = _bulk_tokens()
        self._out = np.zeros(0, dtype=np.int32)  # the bulk read's buffer, grown to a verify's rows
        if with_probs and self._mark is None:
            raise RuntimeError("this libllama cannot report a row's probability (packaging/patch_rows_argmax.py)")
        self.on = False

    def set(self, on: bool) -> None:
        if on == self.on:
            return
        chain = None
        if on:
            chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_greedy())
            self._chains.append(chain)
            if self._mark is not None:
                self._mark(chain, 1)  # before llama_set_sampler, which builds the graphs
        ll.llama_set_sampler(self._ctx, 0, chain)
        self.on = on

    def peak(self, n_tokens: int) -> tuple[int, float]:
        """The last decode's last row (batch position n_tokens - 1): its argmax and that token's probability;
        waits for the device."""
        i = n_tokens - 1
        token = _sampled_token(self._ctx, i)
        probs = _sampled_probs(self._ctx, i)
        if token < 0 or not probs:
            raise DecodeError("llama.cpp sampled no token or probability on the device")
        return token, float(probs[0])

    def tokens(self, n_tokens: int, n_out: int) -> np.ndarray:
        """The argmax of the last decode's n_out output rows (its last n_out tokens), in batch order; waits for
        the device."""
        first = n_tokens - n_out
        if self._bulk is None:
            return np.array([_sampled_token(self._ctx, i) for i in range(first, n_tokens)], dtype=np.int64)
        if self._out.size < n_out:
            self._out = np.zeros(max(n_out, 64), dtype=np.int32)
        self._bulk(self._ctx, first, n_out, self._out.ctypes.data)
        return self._out[:n_out].astype(np.int64)

    def free(self) -> None:
        """After the context is freed: the chains are ours."""
        for chain in self._chains:
            if self._mark is not None:
                self._mark(chain, 0)  # a later chain at the same address must not inherit the mark
            ll.llama_sampler_free(chain)
        self._chains.clear()

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
"""

from __future__ import annotations

import ctypes
import os

import llama_cpp as ll
import numpy as np

ENV = "DSPARK_DEVICE_ARGMAX"  # 1: on (stock llama.cpp and the CPU too: tests); 0: off; unset: see wanted()
# Most outputs a batch asks for while the argmax is on: llama.cpp sizes its output buffer by a batch's outputs, and
# with a backend sampler each output takes four n_vocab-wide rows (logits, and the sampler's logits, probs and
# candidates): 2 MB a row for an 8B Llama. Verifies stay under it; prompts are evaluated in batches of this many
# tokens while features are copied (every position is then an output).
MAX_ROWS = 64

_sampled_token = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_int32)(
    ("llama_get_sampled_token_ith", ll.llama_cpp._lib))


def patched() -> bool:
    """Does the loaded libllama carry packaging/patch_rows_argmax.py?"""
    try:
        return bool(ll.llama_cpp._lib.dspark_rows_argmax())
    except AttributeError:
        return False


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


class RowsArgmax:
    """A greedy sampler on a context's sequence 0, set while generations are greedy. Setting or clearing it makes
    llama.cpp rebuild its graphs (and the logits are not copied while it is set), so it is switched only when a
    generation's sampling mode differs from the last one's."""

    def __init__(self, ctx_ptr):
        self._ctx = ctx_ptr
        self._chains = []  # freed with the context: llama.cpp initializes a chain on a context once only
        self.on = False

    def set(self, on: bool) -> None:
        if on == self.on:
            return
        chain = None
        if on:
            chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_greedy())
            self._chains.append(chain)
        ll.llama_set_sampler(self._ctx, 0, chain)
        self.on = on

    def tokens(self, n_tokens: int, n_out: int) -> np.ndarray:
        """The argmax of the last decode's n_out output rows (its last n_out tokens), in batch order; waits for
        the device."""
        first = n_tokens - n_out
        return np.array([_sampled_token(self._ctx, i) for i in range(first, n_tokens)], dtype=np.int64)

    def free(self) -> None:
        """After the context is freed: the chains are ours."""
        for chain in self._chains:
            ll.llama_sampler_free(chain)
        self._chains.clear()

"""ctypes bindings for the native DSpark/DFlash calls of libllama that llama-cpp-python does not bind.

Native drafters (GGUF arch `dflash`) need a handful of calls that llama.cpp only declares in its staging header
`src/llama-ext.h`. They are exported from libllama with C++-mangled names, which differ per ABI, so each call
lists its candidate names (plain C, Itanium as on Linux/macOS, MSVC as on Windows) and is resolved lazily on
first use. A build without them fails with one clear line instead of a crash. This is the only module that calls
the extension API; `llama.py` remains the only one calling llama_cpp's public API.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import DSparkError

_c_ctx = ctypes.c_void_p  # llama_context *
_c_model = ctypes.c_void_p  # const llama_model *
_c_vocab = ctypes.c_void_p  # const llama_vocab *


@dataclass(frozen=True)
class _Signature:
    names: tuple[str, ...]  # plain, Itanium-mangled, MSVC-mangled
    argtypes: tuple[Any, ...]
    restype: Any


_SIGNATURES: dict[str, _Signature] = {
    # void llama_set_embeddings_layer_inp(llama_context *, uint32_t lid, bool value)
    "set_embeddings_layer_inp": _Signature(
        ("llama_set_embeddings_layer_inp",
         "_Z30llama_set_embeddings_layer_inpP13llama_contextjb",
         "?llama_set_embeddings_layer_inp@@YAXPEAUllama_context@@I_N@Z"),
        (_c_ctx, ctypes.c_uint32, ctypes.c_bool), None),
    # float * llama_get_embeddings_layer_inp(llama_context *, uint32_t lid)
    "get_embeddings_layer_inp": _Signature(
        ("llama_get_embeddings_layer_inp",
         "_Z30llama_get_embeddings_layer_inpP13llama_contextj",
         "?llama_get_embeddings_layer_inp@@YAPEAMPEAUllama_context@@I@Z"),
        (_c_ctx, ctypes.c_uint32), ctypes.c_void_p),
    # void llama_set_embeddings_nextn(llama_context *, bool value, bool masked)
    "set_embeddings_nextn": _Signature(
        ("llama_set_embeddings_nextn",
         "_Z26llama_set_embeddings_nextnP13llama_contextbb",
         "?llama_set_embeddings_nextn@@YAXPEAUllama_context@@_N1@Z"),
        (_c_ctx, ctypes.c_bool, ctypes.c_bool), None),
    # float * llama_get_embeddings_nextn(llama_context *)
    "get_embeddings_nextn": _Signature(
        ("llama_get_embeddings_nextn",
         "_Z26llama_get_embeddings_nextnP13llama_context",
         "?llama_get_embeddings_nextn@@YAPEAMPEAUllama_context@@@Z"),
        (_c_ctx,), ctypes.c_void_p),  # an address: views on it are cached (NextnOutput)
    # const int32_t * llama_model_target_layer_ids(const llama_model *)
    "model_target_layer_ids": _Signature(
        ("llama_model_target_layer_ids",
         "_Z28llama_model_target_layer_idsPK11llama_model",
         "?llama_model_target_layer_ids@@YAPEBHPEBUllama_model@@@Z"),
        (_c_model,), ctypes.POINTER(ctypes.c_int32)),
    # uint32_t llama_model_target_layer_ids_n(const llama_model *)
    "model_target_layer_ids_n": _Signature(
        ("llama_model_target_layer_ids_n",
         "_Z30llama_model_target_layer_ids_nPK11llama_model",
         "?llama_model_target_layer_ids_n@@YAIPEBUllama_model@@@Z"),
        (_c_model,), ctypes.c_uint32),
    # int32_t llama_model_dflash_selector_top_k(const llama_model *)
    "model_dflash_selector_top_k": _Signature(
        ("llama_model_dflash_selector_top_k",
         "_Z33llama_model_dflash_selector_top_kPK11llama_model",
         "?llama_model_dflash_selector_top_k@@YAHPEBUllama_model@@@Z"),
        (_c_model,), ctypes.c_int32),
    # Plain C calls of llama.h that llama-cpp-python 0.3.36 leaves unbound.
    "vocab_mask": _Signature(("llama_vocab_mask",), (_c_vocab,), ctypes.c_int32),
    "set_causal_attn": _Signature(("llama_set_causal_attn",), (_c_ctx, ctypes.c_bool), None),
}

_resolved: dict[str, Any] = {}


def _library() -> ctypes.CDLL:
    from llama_cpp import llama_cpp as _ll  # the already-loaded libllama of the installed package

    return _ll._lib


def _fn(key: str):
    fn = _resolved.get(key)
    if fn is not None:
        return fn
    sig = _SIGNATURES[key]
    lib = _library()
    for name in sig.names:
        try:
            fn = getattr(lib, name)
        except AttributeError:
            continue
        fn.argtypes = list(sig.argtypes)
        fn.restype = sig.restype
        _resolved[key] = fn
        return fn
    raise DSparkError(
        f"this llama-cpp-python build lacks the native DSpark API ({sig.names[0]} is not exported); "
        "native dflash/DSpark drafters need llama-cpp-python >= 0.3.36 built from its vendored llama.cpp"
    )


def require_native_api() -> None:
    """Resolve every call now, so a build without them fails at load time with one line, not mid-generation."""
    for key in _SIGNATURES:
        _fn(key)


# -- the calls, typed for the engine ---------------------------------------------------------------------------


def target_layer_ids(model_ptr) -> list[int]:
    """Layers of the target whose inputs this dflash drafter reads (empty for other models)."""
    n = int(_fn("model_target_layer_ids_n")(model_ptr))
    if n == 0:
        return []
    ids = _fn("model_target_layer_ids")(model_ptr)
    return [int(ids[i]) for i in range(n)]


def selector_top_k(model_ptr) -> int:
    """> 0 for DFlash2 drafters (a selector lattice instead of logits), which we do not drive."""
    return int(_fn("model_dflash_selector_top_k")(model_ptr))


def mask_token(vocab_ptr) -> int:
    """The vocabulary's mask token (-1 when it has none)."""
    return int(_fn("vocab_mask")(vocab_ptr))


def set_layer_input_output(ctx_ptr, layer: int, on: bool) -> None:
    """Make every decode of ctx keep the input of `layer` (the residual stream entering it) for each token."""
    _fn("set_embeddings_layer_inp")(ctx_ptr, layer, on)


class _BufferRows:
    """Rows of a float buffer llama.cpp owns, as a numpy view that is rebuilt only when the buffer moves: building
    one per decode cost a native drafter's plain rounds a measurable share of a GPU step (ctypes array types)."""

    def __init__(self, width: int, max_rows: int):
        self._width = width
        self._max_rows = max_rows
        self._addr = 0
        self._view = np.zeros((0, width), dtype=np.float32)

    def at(self, addr: int, n_rows: int) -> np.ndarray:
        if addr != self._addr:
            floats = (ctypes.c_float * (self._max_rows * self._width)).from_address(addr)
            self._view = np.frombuffer(floats, dtype=np.float32).reshape(self._max_rows, self._width)
            self._addr = addr
        return self._view[:n_rows]


class LayerInputs:
    """The inputs of one target layer (the residual stream entering it) for each token of the context's last
    decode, as views on llama.cpp's buffer."""

    def __init__(self, ctx_ptr, layer: int, width: int, max_rows: int):
        self._ctx = ctx_ptr
        self._layer = layer
        self._rows = _BufferRows(width, max_rows)

    def rows(self, n_rows: int) -> np.ndarray:
        """(n_rows, width), valid until the next decode, and only after one with the output turned on."""
        addr = _fn("get_embeddings_layer_inp")(self._ctx, self._layer)  # waits for the device
        if not addr:
            raise DSparkError(f"llama.cpp kept no input for target layer {self._layer}")
        return self._rows.at(addr, n_rows)


def set_nextn_output(ctx_ptr, on: bool, masked: bool = True) -> None:
    """Keep the drafter's extra per-token output (DSpark: the confidence head) for tokens that output logits."""
    _fn("set_embeddings_nextn")(ctx_ptr, on, masked)


# A llama.cpp built with packaging/patch_markov_head.py writes each DSpark position's chained draft into its
# confidence row: [confidence, draft, GRAPH_TOKENS_MARK, 0, ...] (a stock build repeats the confidence).
GRAPH_TOKENS_MARK = -12345.0


class NextnOutput:
    """The extra per-token output of a context's last decode (DSpark: the confidence head, broadcast over a row of
    the model's width, or with the drafts beside it: see GRAPH_TOKENS_MARK), as views on llama.cpp's buffer."""

    def __init__(self, ctx_ptr, width: int, max_rows: int):
        self._ctx = ctx_ptr
        self._rows = _BufferRows(width, max_rows)

    def rows(self, n_rows: int) -> np.ndarray:
        """(n_rows, width), valid until the next decode."""
        addr = _fn("get_embeddings_nextn")(self._ctx)
        if not addr:
            raise DSparkError("the drafter produced no confidence output")
        return self._rows.at(addr, n_rows)


def set_causal_attention(ctx_ptr, causal: bool) -> None:
    _fn("set_causal_attn")(ctx_ptr, causal)

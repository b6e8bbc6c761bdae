"""Thin, typed wrapper over llama_cpp's low-level C API.

This is the only module of the engine that calls `llama_cpp` directly (the native DSpark bindings in
`dflash_bindings.py` aside). It loads models, evaluates batches into a preallocated `llama_batch` through numpy
views, hands out logits as numpy views of llama.cpp's own buffer, rolls back the KV cache and converts between
text and tokens.
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

import llama_cpp as ll

from . import cpu_cores, device_argmax
from .errors import ContextOverflowError, DecodeError, DSparkError, ModelLoadError
from .gguf_file import check_gguf_file


_backend_lock = threading.Lock()
_backend_ready = False
_verbose = False
_contexts_made = False  # set by the first Context: from then on ggml may have read the CUDA graph switch

CUDA_GRAPHS_OFF_ENV = "GGML_CUDA_DISABLE_GRAPHS"  # ggml-cuda: set (to anything) = no CUDA graphs

# llama.cpp's AMX kernels (CPU builds on Intel Xeon 4th generation and later) segfault in ggml_backend_amx_mul_mat
# on some of those machines, plain llama-cpp-python included (ggml-org/llama.cpp#20824, closed without a fix; seen
# on this project's CI host). Weights go to the AMX buffer only through llama.cpp's "extra" CPU buffer types, so
# where the loaded CPU backend has AMX they are left out: 1 keeps them (AMX that works), 0 drops them everywhere.
CPU_EXTRA_BUFTS_ENV = "DSPARK_CPU_EXTRA_BUFTS"


# DSPARK_LLAMA_ERRORS=1 lets llama.cpp's error lines through without --verbose: a GGML_ABORT (a CUDA fault, say)
# kills the process, and the reason is logged as an error just before it (the rest of the log would slow the run)
_errors_env = os.environ.get("DSPARK_LLAMA_ERRORS", "") == "1"
_LOG_ERROR, _LOG_CONT = 4, 5  # ggml_log_level: an error line, a continuation of the line before
_last_level = 0


@ll.llama_log_callback
def _log_callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    # llama.cpp is chatty; its log only reaches the terminal with --verbose.
    global _last_level
    if level != _LOG_CONT:
        _last_level = level
    if text and (_verbose or (_errors_env and _last_level == _LOG_ERROR)):
        os.write(2, text)


def init_backend(verbose: bool = False) -> None:
    """Initialise llama.cpp once per process and route its log through our filter."""
    global _backend_ready, _verbose
    _verbose = verbose
    with _backend_lock:
        if _backend_ready:
            return
        ll.llama_log_set(_log_callback, ctypes.c_void_p(0))
        ll.llama_backend_init()
        _backend_ready = True


def contexts_made() -> bool:
    """Has this process created a context (after which ggml may have read the CUDA graph switch)?"""
    return _contexts_made


def cuda_graphs_enabled() -> bool:
    """Whether llama.cpp's CUDA backend captures and replays CUDA graphs in this process (CPU builds: moot)."""
    return CUDA_GRAPHS_OFF_ENV not in os.environ


def set_cuda_graphs(on: bool) -> None:
    """Turn llama.cpp's CUDA graphs on or off for this process.

    ggml reads its switch once, at the first decode on a GPU, so it can only change before the first context
    exists. Which pays is measured in docs/benchmarks.md (runs E and F) and chosen in graphs_policy.py."""
    if on == cuda_graphs_enabled():
        return
    if _contexts_made:
        raise DSparkError("CUDA graphs can only be switched before the first model is loaded: restart dspark-chat "
                          f"with --cuda-graphs {'on' if on else 'off'}")
    if on:
        del os.environ[CUDA_GRAPHS_OFF_ENV]
    else:
        os.environ[CUDA_GRAPHS_OFF_ENV] = "1"


def default_threads() -> int:
    """Threads for decoding: one per physical core we may run on (see cpu_cores.py)."""
    return cpu_cores.default_threads()


def _raw_function(name: str, restype, argtypes: tuple):
    """A second ctypes handle on a libllama function, typed our way (llama_cpp's handle keeps its own types)."""
    return ctypes.CFUNCTYPE(restype, *argtypes)((name, ll.llama_cpp._lib))


# the logits pointer as a plain address: cheaper than turning llama_cpp's float pointer into an address
_get_logits_address = _raw_function("llama_get_logits", ctypes.c_void_p, (ctypes.c_void_p,))


class Model:
    """A loaded GGUF model: weights, vocabulary and metadata."""

    def __init__(self, path: str | os.PathLike, n_gpu_layers: int = 0, use_mmap: bool = True):
        init_backend(_verbose)
        self.path = Path(path)
        check_gguf_file(self.path)
        params = ll.llama_model_default_params()
        params.n_gpu_layers = n_gpu_layers
        params.use_mmap = use_mmap
        params.use_extra_bufts = cpu_extra_buffer_types()
        self._ptr = ll.llama_model_load_from_file(str(self.path).encode(), params)
        if not self._ptr:
            raise ModelLoadError(f"llama.cpp could not load {self.path} (corrupt, truncated or unsupported GGUF)")
        self._vocab = ll.llama_model_get_vocab(self._ptr)
        self.n_vocab: int = ll.llama_vocab_n_tokens(self._vocab)
        self.n_embd: int = ll.llama_model_n_embd(self._ptr)
        self.n_layer: int = ll.llama_model_n_layer(self._ptr)
        self.n_ctx_train: int = ll.llama_model_n_ctx_train(self._ptr)
        self.n_gpu_layers = n_gpu_layers
        self.arch: str = self.meta("general.architecture") or "unknown"
        self.bos: int = ll.llama_vocab_bos(self._vocab)
        self.eos: int = ll.llama_vocab_eos(self._vocab)
        self.add_bos: bool = bool(ll.llama_vocab_get_add_bos(self._vocab))
        self._pieces: dict[int, bytes] = {}
        self._eog = np.zeros(self.n_vocab, dtype=bool)
        for t in range(self.n_vocab):
            # one pass at load keeps the hot loop to a numpy lookup
            if ll.llama_vocab_is_eog(self._vocab, t):
                self._eog[t] = True
        self._eog_ids = frozenset(np.flatnonzero(self._eog).tolist())

    @property
    def ptr(self):
        return self._ptr

    @property
    def vocab_ptr(self):
        return self._vocab

    # -- metadata -------------------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(1 << 16)
        n = ll.llama_model_meta_val_str(self._ptr, key.encode(), buf, len(buf))
        if n < 0:
            return None
        if n >= len(buf):  # long values (chat templates) need a bigger buffer
            buf = ctypes.create_string_buffer(n + 1)
            ll.llama_model_meta_val_str(self._ptr, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", errors="replace")

    def description(self) -> str:
        buf = ctypes.create_string_buffer(256)
        ll.llama_model_desc(self._ptr, buf, len(buf))
        return buf.value.decode("utf-8", errors="replace")

    @property
    def size_bytes(self) -> int:
        return int(ll.llama_model_size(self._ptr))

    @property
    def n_params(self) -> int:
        return int(ll.llama_model_n_params(self._ptr))

    def chat_template(self) -> str | None:
        raw = ll.llama_model_chat_template(self._ptr, None)
        return raw.decode("utf-8", errors="replace") if raw else None

    # -- vocabulary -----------------------------------------------------------------------------------------
    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 8
        buf = (ll.llama_token * cap)()
        n = ll.llama_tokenize(self._vocab, data, len(data), buf, cap, add_special, parse_special)
        if n < 0:
            cap = -n
            buf = (ll.llama_token * cap)()
            n = ll.llama_tokenize(self._vocab, data, len(data), buf, cap, add_special, parse_special)
        return list(buf[:n])

    def piece(self, token: int) -> bytes:
        """The bytes of one token (special tokens rendered), cached: the hot loop calls this per token."""
        cached = self._pieces.get(token)
        if cached is not None:
            return cached
        buf = ctypes.create_string_buffer(64)
        n = ll.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, True)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = ll.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, True)
        data = buf.raw[:n]
        self._pieces[token] = data
        return data

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self.piece(t) for t in tokens).decode("utf-8", errors="replace")

    def token_text(self, token: int) -> str:
        raw = ll.llama_vocab_get_text(self._vocab, token)
        return raw.decode("utf-8", errors="replace") if raw else ""

    def is_eog(self, token: int) -> bool:
        return bool(self._eog[token])

    @property
    def eog_mask(self) -> np.ndarray:
        return self._eog

    @property
    def eog_ids(self) -> frozenset[int]:
        """The end-of-generation tokens as a set: for the few tokens of a round, membership tests beat a numpy
        lookup (whose per-call cost is several times the whole test)."""
        return self._eog_ids

    def close(self) -> None:
        if getattr(self, "_ptr", None):
            ll.llama_model_free(self._ptr)
            self._ptr = None

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            self.close()
        except Exception:
            pass


class Context:
    """One inference context (KV cache, one sequence) over a model, with a reusable batch."""

    def __init__(
        self,
        model: Model,
        n_ctx: int,
        n_batch: int = 512,
        threads: int | None = None,
        embeddings: bool = False,
        other: "Context | None" = None,
        rows_argmax: bool = False,
        row_probs: bool = False,
    ):
        """other: a context whose model lends its tensors (native drafters without their own embeddings).
        rows_argmax: greedy tokens can be taken on the device (engine/device_argmax.py, a patched llama.cpp);
        row_probs: with each token's probability too (a drafter's confidence: decode_peak)."""
        global _contexts_made
        _contexts_made = True
        self.model = model
        threads = threads or default_threads()
        params = ll.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = 1
        params.n_threads = threads
        params.n_threads_batch = threads
        params.swa_full = True  # rollback and prefix reuse need the whole window kept
        if rows_argmax and not row_probs:
            # a verify asks for an output per token of its batch, backend samplers one by default. A drafter's
            # steps want one, and more would overflow llama.cpp's graph of a small model: it reserves the graph
            # for the most outputs, and each row's probability adds its own ops (GGML_ASSERT(obj_new), run V)
            params.n_outputs_max_per_seq = n_batch
        params.embeddings = embeddings
        params.no_perf = True
        if other is not None:
            params.ctx_other = other.ptr
        self._ptr = ll.llama_init_from_model(model._ptr, params)
        if not self._ptr:
            raise ModelLoadError(f"could not create a context of {n_ctx} tokens for {model.path.name} (out of memory?)")
        self.n_ctx: int = ll.llama_n_ctx(self._ptr)
        self.n_batch = n_batch
        self.threads = threads
        self._mem = ll.llama_get_memory(self._ptr)
        self._batch = ll.llama_batch_init(n_batch, 0, 1)
        b = self._batch
        for i in range(n_batch):
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
        self._tok = np.ctypeslib.as_array(b.token, shape=(n_batch,))
        self._pos = np.ctypeslib.as_array(b.pos, shape=(n_batch,))
        self._out = np.ctypeslib.as_array(ctypes.cast(b.logits, ctypes.POINTER(ctypes.c_int8)), shape=(n_batch,))
        self._ramp = np.arange(n_batch, dtype=np.int32)  # batch positions are pos0 + this (no arange per decode)
        self._embd_batch = None  # allocated on first decode_embeddings (native drafters only)
        self._embd_rows: np.ndarray | None = None
        self.n_decodes = 0  # counted for tests and the stats: decodes are what a round costs
        self.owner: object | None = None  # the session whose tokens the KV cache holds
        self._pending_out = 0  # outputs of the batch `submit` started
        self._logits_addr: int | None = None  # where llama.cpp's logits buffer was last seen
        self._logits_view = np.zeros((0, model.n_vocab), dtype=np.float32)
        self.rows_argmax = device_argmax.RowsArgmax(self._ptr, row_probs) if rows_argmax else None

    @property
    def ptr(self):
        return self._ptr

    def decode(self, tokens: Sequence[int] | np.ndarray, pos0: int, outputs: str = "last") -> np.ndarray | None:
        """Evaluate `tokens` at positions pos0.. and return logits as a (n_out, n_vocab) view.

        outputs: "none", "last" or "all". The view is only valid until the next decode.
        Prompts longer than the batch are split; "all" is only allowed within one batch.
        """
        n = len(tokens)
        if n == 0:
            return None
        self._check_room(pos0, n)
        self._need_logits(outputs)
        if n > self.n_batch:
            if outputs == "all":
                raise ValueError("outputs='all' needs the tokens to fit one batch")
            for start in range(0, n - self.n_batch, self.n_batch):
                self._decode_chunk(tokens[start : start + self.n_batch], pos0 + start, "none")
            start = ((n - 1) // self.n_batch) * self.n_batch
            return self._decode_chunk(tokens[start:], pos0 + start, outputs)
        return self._decode_chunk(tokens, pos0, outputs)

    def decode_argmax(self, tokens: Sequence[int] | np.ndarray, pos0: int, outputs: str = "last") -> np.ndarray:
        """As `decode` for one batch, with each output row's argmax taken on the device instead of its logits
        (rows_argmax set on: see engine/device_argmax.py)."""
        n = len(tokens)
        if n > self.n_batch:
            raise ValueError(f"decode_argmax takes 1..{self.n_batch} tokens, got {n}")
        self._check_room(pos0, n)
        return self.rows_argmax.tokens(n, self._launch(tokens, pos0, outputs))

    def decode_peak(self, tokens: Sequence[int] | np.ndarray, pos0: int) -> tuple[int, float]:
        """Evaluate `tokens` (split into batches as `decode` does) and return the last row's argmax and its
        probability, both taken on the device (rows_argmax set on, with row_probs)."""
        n = len(tokens)
        self._check_room(pos0, n)
        start = ((n - 1) // self.n_batch) * self.n_batch
        for head in range(0, start, self.n_batch):
            self._launch(tokens[head : head + self.n_batch], pos0 + head, "none")
        self._launch(tokens[start:], pos0 + start, "last")
        return self.rows_argmax.peak(n - start)

    def synchronize(self) -> None:
        """Wait for the work launched on this context."""
        ll.llama_synchronize(self._ptr)

    def submit(self, tokens: Sequence[int] | np.ndarray, pos0: int, outputs: str = "last") -> None:
        """Start evaluating one batch without waiting for it; `result()` waits and returns its logits.

        llama_decode only launches the work on GPU backends (the wait happens when logits are read), so the host
        can run another context, a drafter on its own stream, while this batch computes."""
        n = len(tokens)
        if n == 0 or n > self.n_batch:
            raise ValueError(f"submit takes 1..{self.n_batch} tokens, got {n}")
        self._check_room(pos0, n)
        self._need_logits(outputs)
        self._pending_out = self._launch(tokens, pos0, outputs)

    def result(self) -> np.ndarray | None:
        """Logits of the batch `submit` started, as `decode` returns them (waits for the device)."""
        return self._logits(self._pending_out)

    def _need_logits(self, outputs: str) -> None:
        """While the device argmax is on llama.cpp copies no logits: a caller that wants them turns it off."""
        if outputs != "none" and self.rows_argmax is not None and self.rows_argmax.on:
            self.rows_argmax.set(False)

    def _check_room(self, pos0: int, n: int) -> None:
        if pos0 + n > self.n_ctx:
            raise ContextOverflowError(
                f"context full: {pos0 + n} tokens needed, the context holds {self.n_ctx} (raise --ctx-size)"
            )

    def _decode_chunk(self, tokens, pos0: int, outputs: str) -> np.ndarray | None:
        return self._logits(self._launch(tokens, pos0, outputs))

    def _logits(self, n_out: int) -> np.ndarray | None:
        if n_out == 0:
            return None
        addr = _get_logits_address(self._ptr)  # waits for the device
        if not addr:
            raise DecodeError("llama.cpp returned no logits")
        if addr != self._logits_addr:
            # llama.cpp moved its output buffer (it grows on demand): one view of a full batch's rows at the new
            # address. Building a view costs more than a drafter's whole Python step, so it is kept.
            rows = (ctypes.c_float * (self.n_batch * self.model.n_vocab)).from_address(addr)
            self._logits_view = np.frombuffer(rows, dtype=np.float32).reshape(self.n_batch, self.model.n_vocab)
            self._logits_addr = addr
        return self._logits_view[:n_out]

    def _launch(self, tokens, pos0: int, outputs: str) -> int:
        n = len(tokens)
        if n == 1:  # a drafter step or a plain step: scalar writes are a tenth of the array ones
            self._tok[0] = tokens[0]
            self._pos[0] = pos0
            self._out[0] = outputs != "none"
            n_out = int(outputs != "none")
        else:
            n_out = self._fill(tokens, pos0, n, outputs)
        self._batch.n_tokens = n
        rc = ll.llama_decode(self._ptr, self._batch)
        self.n_decodes += 1
        if rc == 1:
            raise ContextOverflowError(f"context full: no KV slot for {n} tokens at position {pos0}")
        if rc != 0:
            raise DecodeError(f"llama_decode failed with code {rc} ({n} tokens at position {pos0})")
        return n_out

    def _fill(self, tokens, pos0: int, n: int, outputs: str) -> int:
        self._tok[:n] = tokens
        np.add(self._ramp[:n], pos0, out=self._pos[:n])
        if outputs == "all":
            self._out[:n] = 1
            n_out = n
        else:
            self._out[:n] = 0
            n_out = 0
            if outputs == "last":
                self._out[n - 1] = 1
                n_out = 1
        return n_out

    def decode_embeddings(self, rows: np.ndarray, pos0: int) -> None:
        """Evaluate one embedding row per position pos0.. (no outputs): how native drafters take target features.

        A dflash model writes the features into its KV cache; llama.cpp takes rows of the model's encoder width.
        """
        n, width = rows.shape
        self._check_room(pos0, n)
        if self._embd_batch is None or self._embd_rows.shape[1] != width:
            self._free_embd_batch()
            self._embd_batch = ll.llama_batch_init(self.n_batch, width, 1)
            b = self._embd_batch
            for i in range(self.n_batch):
                b.n_seq_id[i] = 1
                b.seq_id[i][0] = 0
                b.logits[i] = 0
            self._embd_rows = np.ctypeslib.as_array(b.embd, shape=(self.n_batch, width))
            self._embd_pos = np.ctypeslib.as_array(b.pos, shape=(self.n_batch,))
        b = self._embd_batch
        for start in range(0, n, self.n_batch):
            m = min(self.n_batch, n - start)
            self._embd_rows[:m] = rows[start : start + m]
            np.add(self._ramp[:m], pos0 + start, out=self._embd_pos[:m])
            b.n_tokens = m
            rc = ll.llama_decode(self._ptr, b)
            self.n_decodes += 1
            if rc == 1:
                raise ContextOverflowError(f"context full: no KV slot for {m} positions at {pos0 + start}")
            if rc != 0:
                raise DecodeError(f"llama_decode of {m} embeddings at position {pos0 + start} failed with code {rc}")

    def _free_embd_batch(self) -> None:
        if self._embd_batch is not None:
            ll.llama_batch_free(self._embd_batch)
            self._embd_batch = None

    def remove_from(self, pos: int) -> None:
        """Forget every KV entry at position >= pos (rollback of rejected drafts, prefix reuse)."""
        if not ll.llama_memory_seq_rm(self._mem, 0, pos, -1):
            raise DecodeError(f"the KV cache refused to roll back to position {pos}")

    def clear(self) -> None:
        ll.llama_memory_clear(self._mem, True)

    def close(self) -> None:
        if getattr(self, "_ptr", None):
            ll.llama_batch_free(self._batch)
            self._free_embd_batch()
            ll.llama_free(self._ptr)
            self._ptr = None
            if getattr(self, "rows_argmax", None) is not None:
                self.rows_argmax.free()

    def __del__(self) -> None:  # pragma: no cover
        try:
            self.close()
        except Exception:
            pass


def first_eog(tokens: Sequence[int], eog_ids: frozenset[int]) -> int | None:
    """Index of the first end-of-generation token in tokens, None when there is none."""
    for i, t in enumerate(tokens):
        if t in eog_ids:
            return i
    return None


def supports_gpu_offload() -> bool:
    init_backend(_verbose)
    return bool(ll.llama_supports_gpu_offload())


def system_info() -> str:
    init_backend(_verbose)
    return ll.llama_print_system_info().decode("utf-8", errors="replace")


def cpu_extra_buffer_types() -> bool:
    """May weights kept on the CPU use llama.cpp's extra buffer types (repacked layouts, AMX)? Not where the CPU
    backend has AMX, unless DSPARK_CPU_EXTRA_BUFTS=1 (see CPU_EXTRA_BUFTS_ENV). The repacked layouts speed up some
    quantizations' CPU matrix products; a GPU build keeps its offloaded layers on the GPU either way."""
    chosen = os.environ.get(CPU_EXTRA_BUFTS_ENV, "")
    if chosen in ("0", "1"):
        return chosen == "1"
    return not amx_build()


def amx_build() -> bool:
    """Does the loaded CPU backend carry llama.cpp's AMX kernels (see CPU_EXTRA_BUFTS_ENV)?"""
    return "AMX_INT8 = 1" in system_info()


def library_version() -> str:
    return getattr(ll, "__version__", None) or __import__("llama_cpp").__version__


QUANT_TYPES = {
    "F32": ll.LLAMA_FTYPE_ALL_F32,
    "F16": ll.LLAMA_FTYPE_MOSTLY_F16,
    "Q8_0": ll.LLAMA_FTYPE_MOSTLY_Q8_0,
    "Q4_K_M": ll.LLAMA_FTYPE_MOSTLY_Q4_K_M,
    "Q2_K": ll.LLAMA_FTYPE_MOSTLY_Q2_K,
}


def quantize(src: str | os.PathLike, dst: str | os.PathLike, quant: str, threads: int | None = None) -> None:
    """Write `src` re-quantized to `quant` (F16 from Q4_K_M dequantizes: same tokens, different weights)."""
    init_backend(_verbose)
    check_gguf_file(Path(src))
    if quant not in QUANT_TYPES:
        raise ModelLoadError(f"unknown quantization {quant!r}; one of {', '.join(QUANT_TYPES)}")
    params = ll.llama_model_quantize_default_params()
    params.nthread = threads or default_threads()
    params.ftype = QUANT_TYPES[quant]
    params.allow_requantize = True
    rc = ll.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0:
        raise ModelLoadError(f"quantizing {Path(src).name} to {quant} failed (code {rc}; is the disk full?)")


# -- what this build of llama.cpp is (for `doctor`) -------------------------------------------------------------
# These read ggml's backend registry and a few exported symbols through ctypes. ggml's functions are not bound by
# llama_cpp, but dlsym on libllama's handle also searches the libraries it links (libggml, libggml-base).

DEVICE_TYPES = {0: "CPU", 1: "GPU", 2: "iGPU", 3: "accelerator", 4: "meta"}

# The C++-only calls a native DSpark (dflash) drafter needs, from llama.cpp's src/llama-ext.h. They are exported
# with mangled names: plain C (should they move to llama.h), Itanium (Linux, macOS; checked with `nm -D` on the
# built libllama.so) and MSVC (Windows; derived from the declarations, not checked on a Windows build).
NATIVE_DSPARK_SYMBOLS: dict[str, tuple[str, ...]] = {
    "llama_set_embeddings_layer_inp": (
        "llama_set_embeddings_layer_inp",
        "_Z30llama_set_embeddings_layer_inpP13llama_contextjb",
        "?llama_set_embeddings_layer_inp@@YAXPEAUllama_context@@I_N@Z",
    ),
    "llama_get_embeddings_layer_inp": (
        "llama_get_embeddings_layer_inp",
        "_Z30llama_get_embeddings_layer_inpP13llama_contextj",
        "?llama_get_embeddings_layer_inp@@YAPEAMPEAUllama_context@@I@Z",
    ),
    "llama_model_target_layer_ids": (
        "llama_model_target_layer_ids",
        "_Z28llama_model_target_layer_idsPK11llama_model",
        "?llama_model_target_layer_ids@@YAPEBHPEBUllama_model@@@Z",
    ),
    "llama_model_target_layer_ids_n": (
        "llama_model_target_layer_ids_n",
        "_Z30llama_model_target_layer_ids_nPK11llama_model",
        "?llama_model_target_layer_ids_n@@YAIPEBUllama_model@@@Z",
    ),
    "llama_model_dflash_selector_top_k": (
        "llama_model_dflash_selector_top_k",
        "_Z33llama_model_dflash_selector_top_kPK11llama_model",
        "?llama_model_dflash_selector_top_k@@YAHPEBUllama_model@@@Z",
    ),
    # plain C in llama.h, bound by llama_cpp: the batch that carries embeddings into a drafter
    "llama_batch_ext_init": ("llama_batch_ext_init",),
    "llama_batch_ext_add_embd": ("llama_batch_ext_add_embd",),
    "llama_process": ("llama_process",),
}


def _native_libs() -> list[ctypes.CDLL]:
    libs = [ll.llama_cpp._lib]
    folder = Path(libs[0]._name).parent
    for stem in ("ggml-base", "ggml"):  # Windows' GetProcAddress does not search dependencies: open them too
        for name in (f"lib{stem}.so", f"lib{stem}.dylib", f"{stem}.dll"):
            if (folder / name).exists():
                try:
                    libs.append(ctypes.CDLL(str(folder / name)))
                except OSError:
                    pass
    return libs


def _function(name: str, restype, argtypes: tuple = ()):
    for lib in _native_libs():
        try:
            fn = lib[name]  # a fresh function object: llama_cpp's own bindings keep their types
        except AttributeError:
            continue
        fn.restype = restype
        fn.argtypes = list(argtypes)
        return fn
    return None


def _text(name: str) -> str | None:
    fn = _function(name, ctypes.c_char_p)
    raw = fn() if fn else None
    return raw.decode("utf-8", errors="replace") if raw else None


def build_info() -> dict:
    """Versions of the installed llama-cpp-python and of the llama.cpp/ggml it was built from."""
    return {
        "llama_cpp_python": library_version(),
        "llama_cpp": _text("llama_version"),
        "ggml": _text("ggml_version"),
        "commit": _text("ggml_commit"),  # the vendored llama.cpp commit ("-dirty": patched by the package)
        "library": str(Path(ll.llama_cpp._lib._name)),
    }


def backend_devices() -> list[dict]:
    """Every device ggml's registry knows in this build: name, kind, backend (CPU, CUDA, Metal, Vulkan, ...), memory."""
    init_backend(_verbose)
    vp = ctypes.c_void_p
    count = _function("ggml_backend_dev_count", ctypes.c_size_t)
    get = _function("ggml_backend_dev_get", vp, (ctypes.c_size_t,))
    name = _function("ggml_backend_dev_name", ctypes.c_char_p, (vp,))
    desc = _function("ggml_backend_dev_description", ctypes.c_char_p, (vp,))
    kind = _function("ggml_backend_dev_type", ctypes.c_int, (vp,))
    size_p = ctypes.POINTER(ctypes.c_size_t)
    memory = _function("ggml_backend_dev_memory", None, (vp, size_p, size_p))
    reg = _function("ggml_backend_dev_backend_reg", vp, (vp,))
    reg_name = _function("ggml_backend_reg_name", ctypes.c_char_p, (vp,))
    if not all((count, get, name, desc, kind, memory, reg, reg_name)):
        return []
    devices = []
    for i in range(count()):
        dev = get(i)
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        memory(dev, ctypes.byref(free), ctypes.byref(total))
        devices.append({
            "name": (name(dev) or b"").decode(errors="replace"),
            "description": (desc(dev) or b"").decode(errors="replace"),
            "type": DEVICE_TYPES.get(kind(dev), str(kind(dev))),
            "backend": (reg_name(reg(dev)) or b"").decode(errors="replace"),
            "memory_free": int(free.value),
            "memory_total": int(total.value),
        })
    return devices


def native_dspark_symbols() -> dict[str, str | None]:
    """For each call a native DSpark drafter needs: the name libllama exports it under, or None when missing."""
    found: dict[str, str | None] = {}
    lib = ll.llama_cpp._lib
    for call, candidates in NATIVE_DSPARK_SYMBOLS.items():
        found[call] = next((c for c in candidates if hasattr(lib, c)), None)
    return found

"""What a GGUF file is, read from its header alone: architecture, size, quantization, context, vocabulary.

Listing models, pairing a drafter with a target and `dspark-chat list` must not load weights, so this module reads
only the metadata and the tensor table with the `gguf` package and never touches tensor data. The stock
`GGUFReader` turns every element of every array into its own numpy view (about a minute for Gemma's 262,144
tokens on a slow CPU); `_HeaderReader` below keeps its parsing but reads numeric arrays as one view and string
arrays as one byte block, so a header reads in tens of milliseconds.

Errors are user errors: a missing, truncated, corrupt or non-GGUF file raises `ModelLoadError` with one line.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from dspark_chat.engine.errors import ModelLoadError
from dspark_chat.engine.gguf_file import check_gguf_file

import gguf
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, LlamaFileType

SPLIT_NAME = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")  # llama.cpp's shard naming: name-00001-of-00003.gguf
_U64 = struct.Struct("<Q")


@dataclass(frozen=True)
class Vocabulary:
    """Token texts as stored in the file: each a little-endian u64 length then UTF-8 bytes, in id order.

    `blob` is that byte block; `ends[i]` is where token i's record ends in it. Comparing blobs compares token
    texts id by id without building 262,144 Python strings.
    """

    blob: bytes = b""
    ends: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.ends)

    def text(self, token: int) -> str:
        start = int(self.ends[token - 1]) if token > 0 else 0
        return self.blob[start + 8 : int(self.ends[token])].decode("utf-8", errors="replace")

    def prefix(self, n: int) -> bytes:
        """The records of tokens 0..n-1."""
        return self.blob[: int(self.ends[n - 1])] if n > 0 else b""

    def fingerprint(self) -> str:
        return hashlib.sha256(self.blob).hexdigest()[:16]

    def first_difference(self, other: "Vocabulary") -> int | None:
        """The lowest id whose text differs between the two vocabularies in their shared range (None: none)."""
        n = min(len(self), len(other))
        a, b = self.prefix(n), other.prefix(n)
        if a == b:
            return None
        m = min(len(a), len(b))
        diff = np.flatnonzero(np.frombuffer(a, np.uint8, m) != np.frombuffer(b, np.uint8, m))
        at = int(diff[0]) if diff.size else m
        # the first differing byte lies in the record of the first token whose end is past it (both blobs agree
        # up to there, so their record boundaries agree too)
        return min(int(np.searchsorted(self.ends[:n], at, side="right")), n - 1)


@dataclass(frozen=True)
class GGUFInfo:
    path: Path
    file_size: int  # bytes on disk, every shard included
    arch: str
    name: str | None  # general.name
    n_params: int  # sum of the tensor element counts
    quant: str  # general.file_type's name (Q4_K_M, F16, ...) or else the dominant tensor type
    dominant_type: str | None  # the tensor type holding most bytes of the weight matrices
    context_length: int | None
    has_chat_template: bool
    vocab_type: str | None  # tokenizer.ggml.model: llama (SentencePiece), gpt2 (BPE), ...
    vocab_size: int
    bos_id: int | None
    eos_id: int | None
    vocab_fingerprint: str  # sha256 (16 hex) of the token texts in id order; equal means same tokens
    embedding_length: int | None = None  # hidden size
    n_layers: int | None = None  # block count
    block_size: int | None = None  # native DSpark/DFlash drafters: tokens drafted per decode
    has_confidence_head: bool = False
    target_layers: tuple[int, ...] = ()  # native drafters: target layers (1-based) whose features they read
    target_hidden_size: int | None = None  # native drafters, when the converter recorded it
    n_shards: int = 1
    vocab: Vocabulary = field(default_factory=Vocabulary, repr=False, compare=False)

    @property
    def is_native_drafter(self) -> bool:
        return self.arch == "dflash"

    def summary(self) -> dict:
        """A JSON-ready view (the vocabulary itself left out)."""
        return {
            "path": str(self.path),
            "size": self.file_size,
            "arch": self.arch,
            "name": self.name,
            "params": self.n_params,
            "quant": self.quant,
            "context_length": self.context_length,
            "chat_template": self.has_chat_template,
            "vocab_type": self.vocab_type,
            "vocab_size": self.vocab_size,
            "bos_id": self.bos_id,
            "eos_id": self.eos_id,
            "vocab_fingerprint": self.vocab_fingerprint,
            **({"block_size": self.block_size, "confidence_head": self.has_confidence_head}
               if self.is_native_drafter else {}),
        }


class _HeaderReader(GGUFReader):
    """GGUFReader that parses arrays in bulk and builds no views of tensor data.

    Array fields it produces hold [item type, count, payload]: a numpy view for numeric arrays, a `Vocabulary`
    for string arrays. Only this module reads them.
    """

    def _get_field_parts(self, orig_offs, raw_type):
        if GGUFValueType(raw_type) != GGUFValueType.ARRAY:
            return super()._get_field_parts(orig_offs, raw_type)
        raw_itype = self._get(orig_offs, np.uint32)
        count = self._get(orig_offs + 4, np.uint64)
        if raw_itype.size < 1 or count.size < 1:
            raise ValueError("file ends inside an array header")
        itype, n, offs = GGUFValueType(int(raw_itype[0])), int(count[0]), orig_offs + 12
        np_type = self.gguf_scalar_to_np.get(itype)
        if np_type is not None:
            values = self._get(offs, np_type, n)
            if values.size != n:
                raise ValueError("file ends inside an array")
            return 12 + int(values.nbytes), [raw_itype, count, values], [2], [GGUFValueType.ARRAY, itype]
        if itype == GGUFValueType.STRING:
            vocab, size = _read_strings(self.data, offs, n)
            return 12 + size, [raw_itype, count, vocab], [2], [GGUFValueType.ARRAY, itype]
        raise ValueError(f"nested or unknown array type {itype!r}")

    def _build_tensors(self, start_offs, fields):
        # Names, types and shapes only: n_bytes from the block sizes, no view of the data.
        tensors = []
        for f in fields:
            _name_len, name_data, _n_dims, dims, raw_dtype, offset_tensor = f.parts
            try:
                ggml_type = GGMLQuantizationType(int(raw_dtype[0]))
            except ValueError:
                raise ValueError(f"tensor type {int(raw_dtype[0])} is unknown to gguf {_gguf_version()}") from None
            n_elems = int(np.prod(dims, dtype=np.int64)) if len(dims) else 1
            block, type_size = gguf.GGML_QUANT_SIZES[ggml_type]
            tensors.append(gguf.ReaderTensor(
                name=bytes(name_data).decode("utf-8", errors="replace"), tensor_type=ggml_type, shape=dims,
                n_elements=n_elems, n_bytes=n_elems * type_size // block,
                data_offset=int(start_offs + offset_tensor[0]), data=np.zeros(0, np.uint8), field=f,
            ))
        self.tensors = tensors


def _read_strings(data: np.memmap, offs: int, n: int) -> tuple[Vocabulary, int]:
    buf = memoryview(data)
    total = len(buf)
    ends = np.empty(n, dtype=np.int64)
    pos = offs
    unpack = _U64.unpack_from
    for i in range(n):
        if pos + 8 > total:
            raise ValueError("file ends inside a string array")
        pos += 8 + unpack(buf, pos)[0]
        ends[i] = pos - offs
    if pos > total:
        raise ValueError("file ends inside a string array")
    return Vocabulary(bytes(buf[offs:pos]), ends), pos - offs


def _gguf_version() -> str:
    from importlib.metadata import version

    try:
        return version("gguf")
    except Exception:  # pragma: no cover - a source checkout of gguf
        return "?"


def _scalar(reader: GGUFReader, key: str):
    f = reader.fields.get(key)
    if f is None or not f.types or f.types[0] == GGUFValueType.ARRAY:
        return None
    if f.types[0] == GGUFValueType.STRING:
        return bytes(f.parts[-1]).decode("utf-8", errors="replace")
    return f.parts[-1].tolist()[0]


def _array(reader: GGUFReader, key: str, missing=None):
    f = reader.fields.get(key)
    if f is None or not f.types or f.types[0] != GGUFValueType.ARRAY:
        return missing
    return f.parts[f.data[0]]  # the payload slot _HeaderReader filled


def _open(path: Path) -> GGUFReader:
    """A header reader for `path`, or ModelLoadError saying in one line what is wrong with the file."""
    check_gguf_file(path)
    try:
        return _HeaderReader(path, "r")
    except (ValueError, IndexError, KeyError, OverflowError, struct.error, UnicodeDecodeError, MemoryError) as exc:
        raise ModelLoadError(f"{path} is corrupt or truncated: its GGUF header does not parse ({exc})") from None
    except OSError as exc:
        raise ModelLoadError(f"cannot read {path}: {exc.strerror or exc}") from None


def _check_complete(reader: GGUFReader, path: Path, size: int) -> None:
    """Every tensor's bytes must lie inside the file: a cut-off download fails here, not inside llama.cpp."""
    if not reader.tensors:
        return
    end = max(t.data_offset + t.n_bytes for t in reader.tensors)
    if end > size:
        raise ModelLoadError(
            f"{path} is truncated: {size:,} bytes of {end:,} (an interrupted download? pull it again)")


def _shards(path: Path, count: int) -> list[Path]:
    m = SPLIT_NAME.search(path.name)
    if not m:
        raise ModelLoadError(f"{path} says it is split in {count} files but is not named like NAME-00001-of-"
                             f"{count:05d}.gguf")
    stem = path.name[: m.start()]
    return [path.with_name(f"{stem}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]


def _quant_name(file_type: int | None, dominant: str | None) -> str:
    if file_type is not None:
        try:
            return LlamaFileType(file_type).name.replace("MOSTLY_", "").replace("ALL_", "")
        except ValueError:
            pass
    return dominant or "unknown"


def read_info(path: str | os.PathLike) -> GGUFInfo:
    """Metadata of the GGUF at `path` (for a split model, its first shard), without reading tensor data."""
    path = Path(path).expanduser()
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ModelLoadError(f"model file not found: {path}") from None
    except OSError as exc:
        raise ModelLoadError(f"cannot read {path}: {exc.strerror or exc}") from None
    return _read_info_cached(path.resolve(), st.st_size, st.st_mtime_ns, _sibling_shards(path))


def _sibling_shards(path: Path) -> tuple:
    """The other shards' names, sizes and times: part of the cache key, so a shard that changes is noticed."""
    m = SPLIT_NAME.search(path.name)
    if not m:
        return ()
    stem = path.name[: m.start()]
    out = []
    for p in sorted(path.parent.glob(f"{stem}-*-of-{m.group(2)}.gguf")):
        st = p.stat()
        out.append((p.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


@lru_cache(maxsize=16)  # a vocabulary is a few MB
def _read_info_cached(path: Path, size: int, mtime_ns: int, shards: tuple) -> GGUFInfo:
    reader = _open(path)
    _check_complete(reader, path, size)
    tensors = list(reader.tensors)
    n_shards = int(_scalar(reader, "split.count") or 1)
    total_size = size
    if n_shards > 1:
        for shard in _shards(path, n_shards)[1:]:
            if not shard.exists():
                raise ModelLoadError(f"{path.name} is split in {n_shards} files and {shard.name} is missing")
            other = _open(shard)
            _check_complete(other, shard, shard.stat().st_size)
            tensors += other.tensors
            total_size += shard.stat().st_size
            del other
    arch = _scalar(reader, "general.architecture") or "unknown"
    weight_bytes: dict[str, int] = {}
    for t in tensors:
        if len(t.shape) >= 2:
            weight_bytes[t.tensor_type.name] = weight_bytes.get(t.tensor_type.name, 0) + t.n_bytes
    dominant = max(weight_bytes, key=weight_bytes.get) if weight_bytes else None
    tokens = _array(reader, "tokenizer.ggml.tokens")
    vocab = tokens if isinstance(tokens, Vocabulary) else Vocabulary()
    conf = _scalar(reader, f"{arch}.has_confidence_head")
    info = GGUFInfo(
        path=path,
        file_size=total_size,
        arch=arch,
        name=_scalar(reader, "general.name"),
        n_params=sum(t.n_elements for t in tensors),
        quant=_quant_name(_scalar(reader, "general.file_type"), dominant),
        dominant_type=dominant,
        context_length=_scalar(reader, f"{arch}.context_length"),
        has_chat_template="tokenizer.chat_template" in reader.fields,
        vocab_type=_scalar(reader, "tokenizer.ggml.model"),
        vocab_size=len(vocab),
        bos_id=_scalar(reader, "tokenizer.ggml.bos_token_id"),
        eos_id=_scalar(reader, "tokenizer.ggml.eos_token_id"),
        vocab_fingerprint=vocab.fingerprint(),
        embedding_length=_scalar(reader, f"{arch}.embedding_length"),
        n_layers=_scalar(reader, f"{arch}.block_count"),
        block_size=_scalar(reader, f"{arch}.block_size"),
        has_confidence_head=bool(conf),
        target_layers=tuple(int(x) for x in _array(reader, f"{arch}.target_layers", ())),
        target_hidden_size=_scalar(reader, f"{arch}.target_hidden_size"),
        n_shards=n_shards,
        vocab=vocab,
    )
    del reader  # drop the memory map now: Windows cannot delete a mapped file
    return info


def format_params(n: int) -> str:
    """135M, 1.5B, 8.0B: the way model cards write sizes."""
    if n >= 1e9:
        return f"{n / 1e9:.1f}B"
    if n >= 1e6:
        return f"{n / 1e6:.0f}M"
    return f"{n / 1e3:.0f}K"


def format_bytes(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"

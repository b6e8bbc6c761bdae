"""Unpack the llama-cpp-python sdist that `pip download` left in a folder and apply the DSpark patches to it.

install.sh builds CUDA installs from this source: packaging/patch_llama.py (one CUDA graph per batch shape:
DSpark at alpha 0.6 went from 0.96x to 1.11x plain decoding on an H200, docs/benchmarks.md run S),
patch_markov_head.py (on an H100 it halved a DSpark block position's cost, run L), patch_feature_switch.py (a
switch of the target's feature copy without re-planning all graph memory) and patch_rows_argmax.py (the target's
greedy tokens from one argmax op on the device; used only with DSPARK_DEVICE_ARGMAX=1 since run O). The source
lands in FOLDER/llama-cpp-python, whose path is printed. A patch whose file changed upstream is left out with a
one-line warning: the build goes on, only without that speed-up.

    python packaging/patched_sdist.py FOLDER
"""

from __future__ import annotations

import shutil
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import patch_feature_switch  # noqa: E402  (sibling scripts, not a package)
import patch_llama  # noqa: E402
import patch_markov_head  # noqa: E402
import patch_rows_argmax  # noqa: E402

SOURCE = "llama-cpp-python"


def unpack(folder: Path) -> Path:
    """FOLDER's one llama_cpp_python-*.tar.gz, unpacked (its top folder stripped) into FOLDER/llama-cpp-python."""
    archives = sorted(folder.glob("llama_cpp_python-*.tar.gz"))
    if len(archives) != 1:
        raise ValueError(f"expected one llama_cpp_python-*.tar.gz in {folder}, found {len(archives)}")
    dest = folder / SOURCE
    shutil.rmtree(dest, ignore_errors=True)
    with tarfile.open(archives[0]) as tar:
        members = []
        for m in tar.getmembers():
            parts = Path(m.name).parts
            if len(parts) < 2 or ".." in parts or m.issym() or m.islnk():
                continue  # the top folder itself, and nothing that could point outside dest
            m.name = str(Path(*parts[1:]))
            members.append(m)
        # the "data" filter where this Python has it (3.12+ warns without a filter)
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(dest, members=members, **safe)
    return dest


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python packaging/patched_sdist.py FOLDER", file=sys.stderr)
        return 2
    try:
        source = unpack(Path(argv[0]))
    except (ValueError, OSError, tarfile.TarError) as exc:
        print(f"patched_sdist: error: {exc}", file=sys.stderr)
        return 1
    for patch in (patch_llama.patch, patch_markov_head.patch, patch_feature_switch.patch, patch_rows_argmax.patch):
        try:
            patch(source)
        except (ValueError, OSError) as exc:
            print(f"patched_sdist: warning: {exc}", file=sys.stderr)
    print(source)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

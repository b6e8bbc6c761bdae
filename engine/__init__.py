"""The decoding engine.

Before llama_cpp loads its libraries, libstdc++ is made global on Linux: with numpy imported first (it loads
libstdc++ privately), a CUDA build of llama.cpp crashed in llama_model_load_from_file (seen with numpy 2.5 on an
H100 machine; promoting libstdc++, or importing llama_cpp before numpy, avoids it). llama_cpp is imported here,
early, for the same reason. A llama-cpp-python that cannot load is left for `engine.llama` to report (and `doctor`).
"""

import sys

if sys.platform.startswith("linux"):
    import ctypes

    try:
        ctypes.CDLL("libstdc++.so.6", mode=ctypes.RTLD_GLOBAL)
    except OSError:  # no shared libstdc++ (a static build): nothing to promote
        pass

try:
    import llama_cpp  # noqa: F401
except Exception:  # reported where it is used
    pass

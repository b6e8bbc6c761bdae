"""The decoding engine. llama.cpp is loaded here, before numpy: with llama.cpp built for CUDA, a process that had
loaded numpy (or torch) first crashed inside llama_model_load_from_file (seen on an H100, docs/benchmarks.md)."""

import llama_cpp  # noqa: F401  (load order matters, see above)

"""Export NextTerm checkpoints to other runtimes.

* :mod:`nextterm.export.gguf_export`: a Qwen3 checkpoint -> one GGUF file for llama.cpp (and the
  tools built on it: LM Studio, Ollama, Docker Model Runner), in f32, f16 or q8_0.
* :mod:`nextterm.export.llamacpp`: an exported file run by llama.cpp (``llama-cpp-python``) behind
  the engine's decode-session interface, so that :class:`~nextterm.engine.Engine` decodes with it
  exactly as it does with torch (used by the tests and ``benchmarks/bench_gguf.py``).
* :mod:`nextterm.export.commands`: ``nextterm export gguf``.

Cheap to import: the ``gguf`` and ``llama_cpp`` packages are imported where they are used.
"""

"""An OpenAI-compatible HTTP server for NextTerm models (``nextterm serve``).

``POST /v1/completions`` works with clients written for vLLM or SGLang (the official ``openai``
package included); ``POST /v1/next-terms`` returns ranked candidates from the hybrid predictor.
Requests that arrive together are decoded together behind a bounded queue; work whose time runs
out or whose client leaves is cancelled; streamed tokens leave as they are made; bad input gets a
4xx with an OpenAI-style error body, a bug a 500 with a request id (the traceback is logged).

Build an app with :func:`nextterm.serve.app.create_app` (over a loaded engine and predictor) or
:func:`nextterm.serve.server.build_app` (from a checkpoint directory), and run it with
:func:`nextterm.serve.server.run_server` or :class:`nextterm.serve.server.BackgroundServer`.
"""

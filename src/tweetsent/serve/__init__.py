"""The prediction service: a trained run behind HTTP (FastAPI), started by ``tweetsent serve``.

    from tweetsent.serve.app import create_app
    app = create_app("runs/best")          # any ASGI server; `tweetsent serve` uses uvicorn

`tweetsent.serve.app` builds the app (endpoints /predict, /explain, /health, /model),
`tweetsent.serve.limits` guards every request (body size, API key) before it reaches them, and
`tweetsent.serve.server` runs it with uvicorn (address policy, workers, graceful shutdown).
"""

__all__: list[str] = []

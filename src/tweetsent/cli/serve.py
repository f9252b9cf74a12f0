"""``tweetsent serve``: a trained run behind HTTP (FastAPI + uvicorn), on 127.0.0.1 unless told otherwise.

    tweetsent serve runs/best --port 8000
    TWEETSENT_API_KEY=s3cret tweetsent serve runs/best --host 0.0.0.0 --workers 2

Registered in `tweetsent.cli.main` as ``app.command("serve")(serve)``; the service is `tweetsent.serve`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tweetsent.cli.exits import handle_errors
from tweetsent.cli.options import DeviceOpt, EngineOpt
from tweetsent.errors import ConfigError

__all__ = ["serve"]


@handle_errors
def serve(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by `tweetsent train` (or `ensemble`).")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on. Anything but 127.0.0.1, localhost or ::1 needs TWEETSENT_API_KEY or --no-auth.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes; each loads the model once.")] = 1,
    max_tweets: Annotated[int, typer.Option("--max-tweets", min=1, help="Most tweets per request (413 above).")] = 1000,
    max_chars: Annotated[int, typer.Option("--max-chars", min=1, help="Most characters per tweet (422 above).")] = 5000,
    max_body: Annotated[int, typer.Option("--max-body", min=1, help="Largest request body in bytes (413 above).")] = 10 * 1024 * 1024,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Serve a non-loopback address without an API key (prints a warning).")] = False,
    device: DeviceOpt = "auto",
    engine: EngineOpt = "auto",
) -> None:
    """Serve a trained run over HTTP: POST /predict, POST /explain, GET /health, GET /model, docs at /docs."""
    try:
        from tweetsent.serve.app import KEY_ENV
        from tweetsent.serve.server import check_exposure, run
    except ModuleNotFoundError as exc:  # the serve extra is optional
        raise ConfigError(f"tweetsent serve needs {exc.name}, which is not installed: "
                          f"pip install 'tweetsent[serve]'") from exc

    api_key = os.environ.get(KEY_ENV) or None
    warning = check_exposure(host, api_key, no_auth)
    if warning:
        typer.echo(warning, err=True)
    run(run_dir, host=host, port=port, workers=workers, max_tweets=max_tweets, max_chars=max_chars,
        max_body=max_body, api_key=api_key, device=device, engine=engine)

"""Run the service with uvicorn: who may listen where, how many workers, and a quiet clean exit.

    warning = check_exposure("0.0.0.0", api_key=None, no_auth=True)   # the line to print, or None
    run("runs/best", host="127.0.0.1", port=8000, workers=1)

Binding anything but loopback needs an API key (``TWEETSENT_API_KEY``) or an explicit ``no_auth``.
One worker serves an app made here (a broken run directory fails before the port opens); several
use uvicorn's factory mode, `tweetsent.serve.app.app_from_env`, so each worker loads the model once.
SIGTERM and Ctrl-C stop the server gracefully (in-flight requests finish) and the process exits 0.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from tweetsent.errors import ConfigError
from tweetsent.serve.app import DEFAULT_MAX_BODY, ENV, KEY_ENV, create_app, model_id
from tweetsent.util.meta import usable_cpus

__all__ = ["LOOPBACK", "check_exposure", "run"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def check_exposure(host: str, api_key: str | None, no_auth: bool) -> str | None:
    """Refuse an unprotected non-loopback address; return the warning to print when ``no_auth`` allows one."""
    if host in LOOPBACK or api_key:
        return None
    if not no_auth:
        raise ConfigError(f"--host {host} is reachable from other machines: set {KEY_ENV} (every request must "
                          f"then send it), or pass --no-auth to serve without a key")
    return f"warning: serving on {host} without an API key (--no-auth): anyone who can reach it can use it"


def run(run_dir: str | Path, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
        max_tweets: int = 1000, max_chars: int = 5000, max_body: int = DEFAULT_MAX_BODY,
        api_key: str | None = None, device: str = "auto", engine: str = "auto") -> None:
    """Serve ``run_dir`` until SIGTERM or Ctrl-C (uvicorn's graceful shutdown), then return.

    Parameters
    ----------
    run_dir : str or Path
        A run directory made by ``tweetsent train``.
    host, port : str, int
        Where to listen; call `check_exposure` first.
    workers : int
        Worker processes; above 1 each loads the model itself (factory mode, settings passed in
        ``TWEETSENT_SERVE_*`` environment variables).
    max_tweets, max_chars, max_body, api_key, device, engine
        As in `tweetsent.serve.app.create_app`.
    """
    import uvicorn

    if workers > 1:
        from tweetsent.models.onnx import check_engine
        from tweetsent.training.device import resolve_device

        model_id(run_dir)  # fail here, once, on a missing or broken run directory, device or engine
        resolve_device(device)
        check_engine(engine)
        os.environ.update({ENV["run_dir"]: str(Path(run_dir).resolve()), ENV["max_tweets"]: str(max_tweets),
                           ENV["max_chars"]: str(max_chars), ENV["max_body"]: str(max_body),
                           ENV["device"]: device, ENV["engine"]: engine})
        if api_key:
            os.environ[KEY_ENV] = api_key
        # The workers share the cores: each gets its share of threads (the workers inherit this), so N
        # workers do not run N x cores threads between them.
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, usable_cpus() // workers)))
        target = "tweetsent.serve.app:app_from_env"
    else:
        target = create_app(run_dir, max_tweets=max_tweets, max_chars=max_chars, max_body=max_body, api_key=api_key,
                            device=device, engine=engine)
    # uvicorn re-raises the stopping signal once it has shut down; with these handlers that ends quietly.
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, lambda signum, frame: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvicorn.run(target, host=host, port=port, workers=workers, factory=workers > 1,
                    timeout_graceful_shutdown=30, log_level="info")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

"""The FastAPI app of one trained run: the model is loaded once, at creation, and answers from memory.

    app = create_app("runs/best", max_tweets=1000, api_key=None)
    # POST /predict {"tweets": ["vaccines are poison"]} -> {"model": "best-3f2a9c1d0b7e", "predictions": [...]}

Endpoints: ``POST /predict`` and ``POST /explain`` (one tweet as ``{"tweet": "..."}`` or many as
``{"tweets": [...]}``), ``GET /health``, ``GET /model``; OpenAPI docs at ``/docs``; a web page at ``/``. Every error is
``{"error": "..."}``. Requests never name files: the run directory is fixed when the app is made,
so deleting it while serving changes nothing. `app_from_env` is the factory that uvicorn's workers
call (``tweetsent serve --workers N``), with the settings in ``TWEETSENT_SERVE_*`` variables.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import threading
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from tweetsent.errors import ModelError
from tweetsent.runs.outputs import model_folder
from tweetsent.serve.limits import Guard

__all__ = ["create_app", "app_from_env", "model_folder", "model_id", "ENV", "DEFAULT_MAX_BODY"]

DEFAULT_MAX_BODY = 10 * 1024 * 1024  # bytes: 1,000 tweets of 5,000 characters, with room for JSON and UTF-8
# The settings `tweetsent serve` hands to each worker (the factory reads them; the key stays in TWEETSENT_API_KEY).
ENV = {"run_dir": "TWEETSENT_SERVE_RUN_DIR", "max_tweets": "TWEETSENT_SERVE_MAX_TWEETS",
       "max_chars": "TWEETSENT_SERVE_MAX_CHARS", "max_body": "TWEETSENT_SERVE_MAX_BODY",
       "device": "TWEETSENT_SERVE_DEVICE", "engine": "TWEETSENT_SERVE_ENGINE"}
KEY_ENV = "TWEETSENT_API_KEY"


class Tweets(BaseModel):
    """One tweet (``tweet``) or several (``tweets``), not both."""

    model_config = ConfigDict(extra="forbid", strict=True,
                              json_schema_extra={"examples": [{"tweets": ["vaccines are poison", "got my flu shot"]}]})
    tweet: str | None = Field(None, description="One tweet.")
    tweets: list[str] | None = Field(None, description="Several tweets, answered in order.")


class ServeError(Exception):
    """An answer other than 200: the HTTP status and the message of ``{"error": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def model_id(run_dir: str | Path) -> str:
    """``<run name>-<first 12 hex digits of sha256(model.json)>``: which model answered, and which version of it."""
    folder = model_folder(run_dir)
    name = (folder.parent if folder.name == "model" else folder).resolve().name
    return f"{name}-{hashlib.sha256((folder / 'model.json').read_bytes()).hexdigest()[:12]}"


def _summary(clf, run_dir: Path, ident: str) -> dict:
    """What ``GET /model`` answers, computed once at start."""
    from tweetsent.models.classifier import FORMAT_VERSION
    from tweetsent.util.meta import package_version

    meta = json.loads((model_folder(run_dir) / "model.json").read_text(encoding="utf-8"))
    metrics_path = run_dir / "metrics.json"
    validation = None
    if metrics_path.is_file():
        try:
            metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
            validation = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        except (ValueError, UnicodeDecodeError, AttributeError):
            validation = None  # a damaged metrics file does not stop the model from serving
    cfg = clf.config_
    return {"model": ident, "classes": [_plain(c) for c in clf.classes_], "class_names": list(clf.class_names_),
            "config": {"name": cfg.name, "model_kind": meta.get("model_kind") or cfg.model.kind,
                       "features_input": cfg.features.input},
            "validation_metrics": validation,
            "versions": {"package": package_version(), "model_format": meta.get("format_version"),
                         "model_format_read": FORMAT_VERSION, "model_written_by": meta.get("package_version")}}


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def create_app(run_dir: str | Path, *, max_tweets: int = 1000, max_chars: int = 5000,
               max_body: int = DEFAULT_MAX_BODY, api_key: str | None = None, device: str = "auto",
               engine: str = "auto") -> FastAPI:
    """The FastAPI app serving the model of ``run_dir`` (loaded here, once).

    Parameters
    ----------
    run_dir : str or Path
        A run directory made by ``tweetsent train`` (or ``ensemble``), or a bare model folder.
    max_tweets : int
        Most tweets in one request (413 above it).
    max_chars : int
        Most characters in one tweet (422 above it, naming the tweet's index).
    max_body : int
        Largest request body in bytes (413 above it).
    api_key : str or None
        When set, every request must carry it (``X-API-Key`` or ``Authorization: Bearer``); else 401.
    device, engine : str
        Where the model predicts and what runs a fine-tuned encoder (`TweetClassifier.load`).

    Returns
    -------
    FastAPI
        The app, with `tweetsent.serve.limits.Guard` checking every request first.
    """
    from tweetsent.runs.workflow import load_run

    run_dir = Path(run_dir)
    ident = model_id(run_dir)
    clf = load_run(run_dir, device, engine)
    summary = _summary(clf, run_dir, ident)
    classes = [str(c) for c in clf.classes_]
    labels = [_plain(c) for c in clf.classes_]
    names = list(clf.class_names_)  # data.label_names, else the label as text
    lock = threading.Lock()  # one inference at a time: torch already spreads a batch over the cores

    api = FastAPI(title="tweetsent", version=summary["versions"]["package"],
                  description=f"Labels tweets with the model {ident}. Every error is {{\"error\": \"...\"}}.")

    @api.exception_handler(ServeError)
    async def _serve_error(request: Request, exc: ServeError):
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = first.get("msg", "invalid request")
        if first.get("type") == "json_invalid":  # loc is ("body", character offset)
            where, message = "", f"malformed JSON at character {where}: {first.get('ctx', {}).get('error', message)}"
        return JSONResponse({"error": f"{where}: {message}" if where else message}, status_code=422)

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    def texts_of(body: Tweets) -> list[str]:
        if (body.tweet is None) == (body.tweets is None):
            raise ServeError(422, 'give either "tweet": "..." or "tweets": ["...", ...], not both and not neither')
        texts = [body.tweet] if body.tweet is not None else body.tweets
        if not texts:
            raise ServeError(422, '"tweets" is an empty list; send at least one tweet')
        if len(texts) > max_tweets:
            raise ServeError(413, f"{len(texts)} tweets in one request; the limit is {max_tweets} (max_tweets)")
        for i, text in enumerate(texts):
            if len(text) > max_chars:
                raise ServeError(422, f"tweet {i} has {len(text)} characters; the limit is {max_chars} (max_chars)")
        return texts

    @api.post("/predict", summary="Label tweets")
    def predict(body: Tweets) -> dict:
        """Each tweet's label, its name and per-class probabilities; an empty tweet is marked ``empty`` and not guessed."""
        texts = texts_of(body)
        kept = [i for i, t in enumerate(texts) if t.strip()]
        with lock:
            proba = clf.predict_proba([texts[i] for i in kept])  # (len(kept), n_classes)
        answers = [{"label": None, "proba": None, "empty": True} for _ in texts]
        for row, i in enumerate(kept):
            p = proba[row]
            best = int(p.argmax())
            answers[i] = {"label": labels[best], "label_name": names[best],
                          "proba": {c: float(v) for c, v in zip(classes, p)}, "empty": False}
        return {"model": ident, "predictions": answers}

    @api.post("/explain", summary="Explain tweets token by token")
    def explain(body: Tweets) -> dict:
        """Each token's contribution to each class's probability (occlusion), as ``clf.explain`` returns it."""
        texts = texts_of(body)
        kept = [i for i, t in enumerate(texts) if t.strip()]
        with lock:
            found = clf.explain([texts[i] for i in kept]) if kept else []
        answers = [{"text": t, "label": None, "proba": None, "tokens": [], "empty": True} for t in texts]
        for item, i in zip(found, kept):
            answers[i] = {**item, "empty": False}
        return {"model": ident, "explanations": answers}

    page = importlib.resources.files("tweetsent.serve").joinpath("static/index.html").read_text(encoding="utf-8")

    @api.get("/", summary="A web page to label and explain tweets", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        """Type or drop tweets, see each label with probability bars and the highlighted explanation."""
        return HTMLResponse(page)

    @api.get("/health", summary="Is the service up")
    def health() -> dict:
        return {"status": "ok", "model": ident}

    @api.get("/model", summary="The model being served")
    def model() -> dict:
        """Classes and their names, a summary of the config, validation metrics (from the run's metrics.json) and versions."""
        return summary

    api.add_middleware(Guard, max_body=max_body, api_key=api_key)
    return api


def app_from_env() -> FastAPI:
    """The app made from ``TWEETSENT_SERVE_*`` variables (and ``TWEETSENT_API_KEY``): uvicorn's factory per worker."""
    try:
        run_dir = os.environ[ENV["run_dir"]]
    except KeyError:
        raise ModelError(f"{ENV['run_dir']} is not set; start the service with `tweetsent serve RUN_DIR`") from None
    return create_app(run_dir, max_tweets=int(os.environ.get(ENV["max_tweets"], 1000)),
                      max_chars=int(os.environ.get(ENV["max_chars"], 5000)),
                      max_body=int(os.environ.get(ENV["max_body"], DEFAULT_MAX_BODY)),
                      api_key=os.environ.get(KEY_ENV) or None, device=os.environ.get(ENV["device"], "auto"),
                      engine=os.environ.get(ENV["engine"], "auto"))

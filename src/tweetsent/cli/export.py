"""``tweetsent export``: an ONNX copy of a run's fine-tuned encoder, beside its weights.

    tweetsent export runs/best --format onnx --quantize int8

Registered in `tweetsent.cli.main` as ``app.command("export")(export)``; the work is
`tweetsent.runs.export.export_run`. `predict`, `evaluate` and `serve` then run the copy through
ONNX Runtime (``--engine auto``, the default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tweetsent.cli.exits import handle_errors

__all__ = ["export"]


@handle_errors
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory whose model is, or contains, a fine-tuned encoder (finetune, best).")],
    fmt: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    quantize: Annotated[str | None, typer.Option("--quantize", help="Also write ONNX Runtime's dynamic int8 copy (model.int8.onnx): int8.", show_default=False)] = None,
) -> None:
    """Write model.onnx (and model.int8.onnx with --quantize int8) beside each fine-tuned encoder's weights, atomically.

    predict, evaluate and serve then use it (--engine auto); network and softmax models have nothing to export.
    """
    from tweetsent.runs.export import export_run

    for path in export_run(run_dir, fmt, quantize):
        typer.echo(f"wrote {path}")

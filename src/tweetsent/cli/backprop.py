"""The ``tweetsent backprop`` command: backpropagation through an expression, shown node by node.

    tweetsent backprop --expr "(relu(x*m + b) - t)**2" --x 2 --m -1 --b 3 --t 4 --check

Registered by the main CLI as ``app.command("backprop")(backprop)``; all numbers come from
:mod:`tweetsent.backprop.lesson`, this module only renders them. Errors take the one path of
`tweetsent.cli.exits`; a failed ``--check`` exits 1.
"""

import json
import re
from pathlib import Path
from typing import Annotated

import typer

from tweetsent.backprop.lesson import STUDY_EXPRESSION, backprop_lesson
from tweetsent.cli.exits import handle_errors
from tweetsent.errors import ConfigError

__all__ = ["backprop"]


@handle_errors
def backprop(
    expr: Annotated[str | None, typer.Option(
        "--expr", help=f"Expression to differentiate; default: the study's graph {STUDY_EXPRESSION}.")] = None,
    x: Annotated[float, typer.Option("--x", help="Value of variable x.")] = 2.0,
    m: Annotated[float, typer.Option("--m", help="Value of variable m.")] = -1.0,
    b: Annotated[float, typer.Option("--b", help="Value of variable b.")] = 3.0,
    t: Annotated[float, typer.Option("--t", help="Value of variable t, the target y*.")] = 4.0,
    var: Annotated[list[str] | None, typer.Option(
        "--var", help="Any variable as NAME=VALUE; repeatable; overrides --x/--m/--b/--t.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print values and gradients as one JSON object.")] = False,
    check: Annotated[bool, typer.Option(
        "--check", help="Compare every gradient with PyTorch (float64) and finite differences.")] = False,
    dot: Annotated[Path | None, typer.Option("--dot", help="Write the graph with gradients as Graphviz DOT.")] = None,
) -> None:
    """Backpropagate through an expression and show every node's local, upstream and downstream gradient."""
    lesson = backprop_lesson(expr, {"x": x, "m": m, "b": b, "t": t, **_parse_vars(var or [])}, check, dot)
    table, claims, result = lesson["table"], lesson["claims"], lesson["check"]
    if as_json:
        payload = dict(table)
        if claims is not None:
            payload["study_claims"] = claims
        if result is not None:
            payload["check"] = result
        typer.echo(json.dumps(payload, indent=2))
    else:
        _render(table, claims, result, dot)
    if result is not None and not result["ok"]:
        raise typer.Exit(1)


def _parse_vars(items):
    values = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ConfigError(f"--var {item!r} is not NAME=VALUE (for example --var w=0.5)")
        try:
            values[name] = float(text)
        except ValueError as exc:
            raise ConfigError(f"--var {item!r}: {text.strip()!r} is not a number") from exc
    return values


def _show(name):
    # the CLI calls the target t; the study (and most texts) call it y*
    return "y*" if name == "t" else name


def _show_expr(row):
    # whole-word replace, so "y - t" reads "y - y*" but tanh stays tanh
    return re.sub(r"\bt\b", "y*", row["expr"])


def _fmt(v):
    return f"{v + 0.0:.6g}"  # + 0.0 turns -0.0 (from 0 * -1) into 0


def _render(table, claims, result, dot):
    from rich.console import Console  # imported here so `tweetsent --help` stays fast
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    out = _show(table["output"])
    nodes = Table(title=escape(f"Backpropagation through {table['expression']}"), show_lines=True,
                  caption=f"upstream = d{out}/d(node), arriving from the node's consumers; "
                          "downstream = upstream * local, sent to each input")
    for column in ("node", "computes", "value", "local", "upstream", "downstream"):
        nodes.add_column(column, justify="right" if column == "value" else "left")
    for row in reversed(table["nodes"]):  # backward order: the output first, as gradients flow
        name = _show(row["name"])
        local = "\n".join(f"d{name}/d{_show(c)} = {_fmt(g)}" for c, g in zip(row["inputs"], row["local"]))
        sent = "\n".join(f"{_fmt(row['upstream'])}*{_fmt(g)} = {_fmt(d)} to {_show(c)}"
                         for c, g, d in zip(row["inputs"], row["local"], row["downstream"]))
        nodes.add_row(escape(name), escape(_show_expr(row)), _fmt(row["value"]), escape(local) or "-",
                      _fmt(row["upstream"]), escape(sent) or "-")
    console.print(nodes)

    grads = Table(title=f"Gradients of {out} = {_fmt(table['value'])}")
    grads.add_column("input")
    grads.add_column("value", justify="right")
    grads.add_column(f"d{out}/d(input)", justify="right")
    for name, value in table["inputs"].items():
        grads.add_row(escape(_show(name)), _fmt(value), _fmt(table["gradients"][name]))
    console.print(grads)

    values = {r["name"]: r["value"] for r in table["nodes"]}
    kinks = [r["name"] for r in table["nodes"] if r["op"] == "relu" and values[r["inputs"][0]] == 0.0]
    if kinks:
        console.print(f"note: relu input is exactly 0 at {', '.join(kinks)}; "
                      "its subgradient there is taken as 0, as torch.relu does.")

    if claims is not None:
        study = Table(title="The study's derivation vs the correct one (study: da/dz = b, da/db = z)")
        for column in ("quantity", "study's formula", "study's value", "correct formula", "correct value"):
            study.add_column(column, justify="right" if "value" in column else "left")
        for c in claims:
            shown = f"[red]{_fmt(c['study'])}[/red]" if c["differs"] else _fmt(c["study"])
            study.add_row(c["quantity"], escape(c["study_formula"]), shown,
                          escape(c["correct_formula"]), _fmt(c["correct"]))
        console.print(study)

    if result is not None:
        verdict = "[green]ok[/green]" if result["ok"] else "[red]FAILED[/red]"
        console.print(f"check {verdict}: largest disagreement with torch (float64) "
                      f"{result['torch_max']:.3g} at node {_show(result['torch_node'])} "
                      f"(tolerance {result['torch_tol']:g}); with central finite differences "
                      f"{result['fd_max']:.3g} at node {_show(result['fd_node'] or '-')} "
                      f"(tolerance {result['fd_tol']:g})", highlight=False)
        if result["near_kink"]:
            console.print("note: a relu input is near 0, where finite differences are unreliable; "
                          "they are reported but do not fail the check.")
    if dot is not None:
        console.print(escape(f"wrote {dot}"), highlight=False)


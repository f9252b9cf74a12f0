"""The backpropagation table as a Graphviz graph: each node with its value and gradient.

    write_dot(node_table(output), "graph.dot")     # then: dot -Tpng graph.dot -o graph.png
"""

from __future__ import annotations

from pathlib import Path

from tweetsent.errors import ConfigError
from tweetsent.util.files import atomic_write_text

__all__ = ["number", "to_dot", "write_dot"]


def number(x) -> str:
    """A value as the lesson prints it: six significant digits."""
    return f"{x:.6g}"


def _dot_quote(s):
    # DOT strings: escape backslash and quote, and write line breaks as \n
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(table):
    """The graph as Graphviz DOT text: one node per value, edges labelled with the gradient sent back.

    Parameters
    ----------
    table : dict
        The result of :func:`node_table`.

    Returns
    -------
    str
        A ``digraph``; edges point forward (input -> consumer) and carry the downstream gradient.
    """
    lines = ["digraph backprop {", "  rankdir=LR;", '  node [fontname="monospace"];']
    for row in table["nodes"]:
        shape = "box" if row["kind"] == "op" else "ellipse"
        title = row["name"] if row["kind"] == "input" else f"{row['name']} = {row['expr']}"
        label = f"{title}\nvalue {number(row['value'])}\ngrad {number(row['upstream'])}"
        lines.append(f"  {_dot_quote(row['name'])} [shape={shape}, label={_dot_quote(label)}];")
    for row in table["nodes"]:
        for child, local, sent in zip(row["inputs"], row["local"], row["downstream"]):
            label = f"grad {number(sent)} (local {number(local)})"
            lines.append(f"  {_dot_quote(child)} -> {_dot_quote(row['name'])} [label={_dot_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_dot(table, path):
    """Write :func:`to_dot` output to ``path`` atomically (temp file in the same folder + rename).

    Parameters
    ----------
    table : dict
        The result of :func:`node_table`.
    path : str or Path
        Where to write.

    Raises
    ------
    ConfigError
        If the file cannot be written.
    """
    path = Path(path)
    try:
        atomic_write_text(path, to_dot(table))
    except OSError as exc:
        raise ConfigError(f"cannot write DOT file {str(path)!r}: {exc.strerror or exc}; choose a folder you can "
                          f"write to") from exc

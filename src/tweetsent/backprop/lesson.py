"""Backpropagation explained node by node: parse an expression safely, trace every gradient, check it.

    table = node_table(parse_expression("(relu(x*m + b) - t)**2", {"x": 2, "m": -1, "b": 3, "t": 4}))

Expressions are parsed by `tweetsent.backprop.expression` against a whitelist (numbers, variables, ``+ - * / **``,
unary minus, ``relu``, ``max(0, .)``, ``tanh``, ``sigmoid``, ``exp``, ``log``); nothing is ever
evaluated by Python. :func:`node_table` computes the plain data once (forward values, local,
upstream and downstream gradients); the CLI table, JSON, DOT file and checks all read it.

:func:`study_graph` and :func:`study_claims` encode the course study's hand derivation of
``o = (max(0, x*m + b) - y*)**2``, which states da/dz = b and da/db = z for ``a = z + b``
(both are 1), next to the correct gradients.
"""

import math
from pathlib import Path

from tweetsent.backprop.autograd import Value
from tweetsent.backprop.dot import number as _fmt
from tweetsent.backprop.dot import to_dot, write_dot  # noqa: F401 - part of the lesson's API
from tweetsent.backprop.expression import FUNCTIONS, STUDY_EXPRESSION, parse_expression
from tweetsent.errors import ConfigError

__all__ = [
    "backprop_lesson",
    "FUNCTIONS",
    "STUDY_EXPRESSION",
    "parse_expression",
    "node_table",
    "check_gradients",
    "study_graph",
    "study_claims",
]

def _names(output):
    """A unique display name per node: its label, else ``o`` for the output, else n1, n2, ..."""
    order = output.topo()
    names, taken, counter = {}, {v.label for v in order if v.label}, 0
    for node in order:
        if node.label:
            names[id(node)] = node.label
        elif node is output and "o" not in taken:
            names[id(node)] = "o"
        else:
            counter += 1
            while f"n{counter}" in taken:
                counter += 1
            names[id(node)] = f"n{counter}"
    return order, names


def _expr(node, names):
    args = [names[id(c)] for c in node.children]
    if not node.children:
        return _fmt(node.data) if not node.label else node.label
    if node.op in ("+", "-", "*", "/"):
        return f"{args[0]} {node.op} {args[1]}"
    if node.op == "**":
        return f"{args[0]}**{_fmt(node.exponent)}"
    if node.op == "neg":
        return f"-{args[0]}"
    return f"{node.op}({args[0]})"


def node_table(output, expression=None):
    """Run backward from ``output`` and describe every node and edge as plain data.

    Parameters
    ----------
    output : Value
        The node whose gradient is taken (``o``).
    expression : str, optional
        The source text, stored in the result for display.

    Returns
    -------
    dict
        ``expression``, ``output`` (its name), ``value`` (its forward value), ``nodes`` (a list in
        forward order of dicts with ``name``, ``op``, ``expr``, ``kind`` ("input", "constant" or
        "op"), ``value``, ``inputs`` (child names), ``local`` (d node / d child each),
        ``upstream`` (d output / d node, arriving from its consumers) and ``downstream``
        (upstream * local, sent to each child)), ``inputs`` (variable -> value) and
        ``gradients`` (variable -> d output / d variable).

    Raises
    ------
    ConfigError
        If a forward value or gradient is not finite (a float overflowed).
    """
    output.backward()
    order, names = _names(output)
    nodes = []
    for node in order:
        kind = "op" if node.children else ("input" if node.label else "constant")
        row = {
            "name": names[id(node)],
            "op": node.op or kind,
            "expr": _expr(node, names),
            "kind": kind,
            "value": node.data,
            "inputs": [names[id(c)] for c in node.children],
            "local": list(node.local_grads),
            "upstream": node.grad,
            "downstream": [node.grad * g for g in node.local_grads],
        }
        numbers = [row["value"], row["upstream"], *row["local"], *row["downstream"]]
        if not all(math.isfinite(v) for v in numbers):
            raise ConfigError(f"node {row['name']} = {row['expr']} overflowed to a non-finite number; "
                              "use smaller input values")
        nodes.append(row)
    inputs = [row for row in nodes if row["kind"] == "input"]
    return {
        "expression": expression,
        "output": names[id(output)],
        "value": output.data,
        "nodes": nodes,
        "inputs": {row["name"]: row["value"] for row in inputs},
        "gradients": {row["name"]: row["upstream"] for row in inputs},
    }


# -- checks against PyTorch and finite differences ----------------------------------------------

_FLOAT_OPS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "neg": lambda a: -a,
    "relu": lambda a: a if a > 0.0 else 0.0,
    "tanh": math.tanh,
    "sigmoid": lambda a: Value(a).sigmoid().data,
    "exp": math.exp,
    "log": math.log,
}


def _replay(order, override):
    """Forward values of ``order`` in floats, with the values in ``override`` (index -> value) forced."""
    values = []
    index = {id(node): i for i, node in enumerate(order)}
    for i, node in enumerate(order):
        if i in override:
            values.append(override[i])
            continue
        args = [values[index[id(c)]] for c in node.children]
        if not node.children:
            values.append(node.data)
        elif node.op == "**":
            values.append(float(args[0] ** node.exponent))
        else:
            values.append(_FLOAT_OPS[node.op](*args))
    return values


def _torch_grads(order):
    import torch  # heavy: only --check needs it

    ops = {
        "+": torch.add, "-": torch.sub, "*": torch.mul, "/": torch.div, "neg": torch.neg,
        "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "exp": torch.exp,
        "log": torch.log,
    }
    index = {id(node): i for i, node in enumerate(order)}
    tensors = []
    for node in order:
        if not node.children:
            t = torch.tensor(node.data, dtype=torch.float64, requires_grad=True)
        else:
            args = [tensors[index[id(c)]] for c in node.children]
            t = args[0] ** node.exponent if node.op == "**" else ops[node.op](*args)
            t.retain_grad()  # keep gradients of intermediate nodes too, to compare every node
        tensors.append(t)
    tensors[-1].backward()
    return [t.grad.item() if t.grad is not None else 0.0 for t in tensors], [t.item() for t in tensors]


def check_gradients(output, torch_tol=1e-6, fd_tol=1e-4):
    """Compare every node's gradient with PyTorch autograd (float64) and central finite differences.

    Disagreements are measured as ``|engine - other| / max(1, |other|)``. Finite differences
    perturb one node's value at a time and replay the graph after it; near a relu kink (an input
    within the step of 0) they are unreliable, so such graphs are flagged rather than failed.

    Parameters
    ----------
    output : Value
        The output node.
    torch_tol : float, default 1e-6
        Largest disagreement with torch that still passes.
    fd_tol : float, default 1e-4
        Largest disagreement with finite differences that still passes.

    Returns
    -------
    dict
        ``torch_max`` and ``torch_node`` (largest disagreement with torch and where),
        ``fd_max`` and ``fd_node`` (same for finite differences), ``near_kink`` (bool),
        ``torch_tol``, ``fd_tol`` and ``ok`` (torch within tolerance, and finite differences too
        unless ``near_kink``).
    """
    output.backward()
    order, names = _names(output)
    torch_grad, torch_value = _torch_grads(order)
    torch_max, torch_node = 0.0, None
    for node, grad, value in zip(order, torch_grad, torch_value):
        err = max(_rel(node.grad, grad), _rel(node.data, value))
        if err > torch_max or torch_node is None:
            torch_max, torch_node = err, names[id(node)]

    fd_max, fd_node = 0.0, None
    for i, node in enumerate(order):
        h = 1e-6 * max(1.0, abs(node.data))
        try:
            up = _replay(order, {i: node.data + h})[-1]
            down = _replay(order, {i: node.data - h})[-1]
        except (ValueError, TypeError, ZeroDivisionError, OverflowError):
            continue  # the step leaves the function's domain (log near 0): skip this node
        err = _rel(node.grad, (up - down) / (2.0 * h))
        if err > fd_max or fd_node is None:
            fd_max, fd_node = err, names[id(node)]
    # a relu input this close to 0 may be crossed by the finite-difference step
    near_kink = any(node.op == "relu" and abs(node.children[0].data) < 1e-4 for node in order)
    return {
        "torch_max": torch_max,
        "torch_node": torch_node,
        "fd_max": fd_max,
        "fd_node": fd_node,
        "near_kink": near_kink,
        "torch_tol": torch_tol,
        "fd_tol": fd_tol,
        "ok": torch_max <= torch_tol and (fd_max <= fd_tol or near_kink),
    }


def _rel(a, b):
    return abs(a - b) / max(1.0, abs(b))


# -- the course study ----------------------------------------------------------------------------


def study_graph(x, m, b, t):
    """The study's graph z = x*m, a = z + b, y = max(0, a), e = y - y*, o = e**2, run backward.

    Parameters
    ----------
    x, m, b : float
        The inputs.
    t : float
        The target y*.

    Returns
    -------
    dict of str to Value
        ``x m b t z a y e o`` in forward order, with ``.grad`` = do/d(node) already set.
    """
    nodes = {name: Value(v, label=name) for name, v in (("x", x), ("m", m), ("b", b), ("t", t))}
    nodes["z"] = nodes["x"] * nodes["m"]
    nodes["a"] = nodes["z"] + nodes["b"]
    nodes["y"] = nodes["a"].relu()
    nodes["e"] = nodes["y"] - nodes["t"]
    nodes["o"] = nodes["e"] ** 2
    for name in ("z", "a", "y", "e", "o"):
        nodes[name].label = name
    nodes["o"].backward()
    return nodes


def _propagate(output, local_override):
    """Reverse-mode chain rule with some local gradients replaced: node -> tuple of locals."""
    order = output.topo()
    grads = {id(node): 0.0 for node in order}
    grads[id(output)] = 1.0
    for node in reversed(order):
        for child, local in zip(node.children, local_override.get(id(node), node.local_grads)):
            grads[id(child)] += grads[id(node)] * local
    return grads


def study_claims(x, m, b, t):
    """The study's stated gradients next to the correct ones, for the given values.

    The study claims da/dz = b and da/db = z for a = z + b; its do/dz, do/db, do/dx, do/dm follow
    from those by the chain rule. Correct values come from :class:`Value` backward.

    Parameters
    ----------
    x, m, b, t : float
        The inputs and target y*, as for :func:`study_graph`.

    Returns
    -------
    list of dict
        One row per quantity with ``quantity``, ``study_formula``, ``study``, ``correct_formula``,
        ``correct`` and ``differs`` (bool).
    """
    nodes = study_graph(x, m, b, t)
    z, a = nodes["z"], nodes["a"]
    # the study's mistake: the local gradients of a = z + b taken as (b, z) instead of (1, 1)
    claimed = _propagate(nodes["o"], {id(a): (nodes["b"].data, z.data)})
    g = "2(y-y*)*[a>0]"  # do/da, which the study gets right
    rows = [
        ("da/dz", "b", nodes["b"].data, "1", a.local_grads[0]),
        ("da/db", "z", z.data, "1", a.local_grads[1]),
        ("do/dz", f"{g}*b", claimed[id(z)], g, z.grad),
        ("do/db", f"{g}*z", claimed[id(nodes['b'])], g, nodes["b"].grad),
        ("do/dx", f"{g}*b*m", claimed[id(nodes['x'])], f"{g}*m", nodes["x"].grad),
        ("do/dm", f"{g}*b*x", claimed[id(nodes['m'])], f"{g}*x", nodes["m"].grad),
    ]
    return [
        {"quantity": q, "study_formula": sf, "study": s, "correct_formula": cf, "correct": c,
         "differs": not math.isclose(s, c, rel_tol=1e-12, abs_tol=1e-12)}
        for q, sf, s, cf, c in rows
    ]


def backprop_lesson(expr: str | None = None, variables: dict | None = None, check: bool = False,
                    dot: str | Path | None = None) -> dict:
    """Everything ``tweetsent backprop`` shows: the node table, the study's claims, the gradient check.

    Parameters
    ----------
    expr : str, optional
        The expression; None is the study's graph (`STUDY_EXPRESSION`), whose claims are then compared.
    variables : dict, optional
        Variable values (the study's defaults x = 2, m = -1, b = 3, t = 4 for the ones not given).
    check : bool
        Compare every gradient with PyTorch and central finite differences (`check_gradients`).
    dot : path, optional
        Also write the graph as Graphviz DOT there (`write_dot`).

    Returns
    -------
    dict
        ``table`` (`node_table`), ``claims`` (`study_claims`, None for another expression) and
        ``check`` (`check_gradients`' result, None without ``check``).
    """
    values = {"x": 2.0, "m": -1.0, "b": 3.0, "t": 4.0, **(variables or {})}
    if expr is None:
        output = study_graph(values["x"], values["m"], values["b"], values["t"])["o"]
        claims = study_claims(values["x"], values["m"], values["b"], values["t"])
    else:
        output, claims = parse_expression(expr, values), None
    table = node_table(output, expr or STUDY_EXPRESSION)
    result = check_gradients(output) if check else None
    if dot is not None:
        write_dot(table, dot)
    return {"table": table, "claims": claims, "check": result}

"""Safe parsing of small arithmetic expressions into `tweetsent.backprop.autograd.Value` graphs.

    output = parse_expression("(relu(x*m + b) - t)**2", {"x": 2, "m": -1, "b": 3, "t": 4})

The text is parsed with :mod:`ast` and checked against a whitelist (numbers, variables,
``+ - * / **``, unary minus, ``relu``, ``max(0, .)``, ``tanh``, ``sigmoid``, ``exp``, ``log``)
before anything is built; nothing is ever evaluated by Python. A bad expression or a missing
variable is a `ConfigError` that points at the column.
"""

import ast
import math

from tweetsent.backprop.autograd import Value
from tweetsent.errors import ConfigError

__all__ = ["FUNCTIONS", "STUDY_EXPRESSION", "parse_expression"]

#: The study's graph written as an expression (``t`` is the target y*).
STUDY_EXPRESSION = "(relu(x*m + b) - t)**2"

#: Functions an expression may call, each taking one argument (``max`` only as ``max(0, .)``).
FUNCTIONS = ("relu", "max", "tanh", "sigmoid", "exp", "log")

_MAX_LENGTH = 10_000
_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_ALLOWED_TEXT = "numbers, variables, + - * / **, unary minus, relu, max(0, .), tanh, sigmoid, exp, log"
# Friendlier names than ast's class names for the nodes people actually try.
_NODE_NAMES = {
    "Attribute": "attribute access",
    "Subscript": "indexing",
    "Compare": "a comparison",
    "BoolOp": "and/or",
    "Lambda": "lambda",
    "IfExp": "if/else",
    "List": "a list",
    "Tuple": "a tuple",
    "Dict": "a dict",
    "Set": "a set",
    "JoinedStr": "an f-string",
    "NamedExpr": "the := operator",
    "Starred": "*unpacking",
}


# -- parsing -----------------------------------------------------------------------------------


def parse_expression(text, variables):
    """Build a :class:`Value` graph from an expression, using a whitelist of syntax.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"(relu(x*m + b) - t)**2"``.
    variables : mapping of str to float
        A value for every variable the expression uses (extra ones are ignored).

    Returns
    -------
    Value
        The output node; each variable is one leaf labelled with its name, shared by all uses.

    Raises
    ------
    ConfigError
        For a syntax error (with its column), disallowed syntax, an unknown function, a
        variable with no value, or arithmetic with no real answer (log of 0, division by 0).
    """
    text = text.strip()
    if not text:
        raise ConfigError("empty expression; write one such as --expr '(relu(x*m + b) - t)**2'")
    if len(text) > _MAX_LENGTH:
        raise ConfigError(f"expression is {len(text)} characters long; the limit is {_MAX_LENGTH}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        # Python reports errors at the end of input as offset 0 or None: point past the last char
        column = exc.offset if exc.offset and exc.offset <= len(text) else len(text) + 1
        raise ConfigError(f"syntax error at column {column} of {_short(text)!r}: {exc.msg}") from exc
    except (RecursionError, MemoryError) as exc:
        raise ConfigError(f"expression {_short(text, 40)!r} is nested too deeply to parse") from exc

    _validate(tree, text)
    # Name every missing variable at once rather than one per run.
    used = _variables_of(tree)
    missing = [name for name in used if name not in variables]
    if missing:
        flags = " ".join(f"--var {name}=VALUE" for name in missing)
        names = ", ".join(repr(name) for name in missing)
        noun, it = ("variable", "it") if len(missing) == 1 else ("variables", "them")
        raise ConfigError(f"no value for {noun} {names} in {_short(text)!r}; give {it} with {flags}")
    leaves = {name: Value(variables[name], label=name) for name in used}
    try:
        return _build(tree.body, leaves, text)
    except RecursionError as exc:
        raise ConfigError(f"expression {_short(text, 40)!r} is nested too deeply to evaluate") from exc


def _variables_of(tree):
    # Names in function position are functions, not variables; listed in reading order.
    callees = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in callees]
    found.sort(key=lambda n: n.col_offset)
    return list(dict.fromkeys(n.id for n in found))


def _where(node, text):
    return f"at column {node.col_offset + 1} of {_short(text)!r}"


def _short(text, limit=80):
    # keeps error messages to one readable line even for long expressions
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _validate(tree, text):
    """Reject anything outside the whitelist, leftmost problem first, before looking at values."""
    nodes = sorted((n for n in ast.walk(tree) if isinstance(n, ast.expr)), key=lambda n: n.col_offset)
    for node in nodes:
        if isinstance(node, ast.Constant):
            _number(node, text)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                raise ConfigError(f"operator {type(node.op).__name__} is not supported {_where(node, text)}; "
                                  f"allowed: {_ALLOWED_TEXT}")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                hint = "; use ** for powers" if isinstance(node.op, ast.BitXor) else ""
                raise ConfigError(f"operator {type(node.op).__name__} is not supported {_where(node, text)}; "
                                  f"allowed: {_ALLOWED_TEXT}{hint}")
            if isinstance(node.op, ast.Pow):
                try:
                    _constant(node.right, text)
                except ValueError as exc:
                    raise ConfigError(str(exc)) from exc
        elif isinstance(node, ast.Call):
            _validate_call(node, text)
        elif not isinstance(node, ast.Name):
            kind = _NODE_NAMES.get(type(node).__name__, type(node).__name__)
            raise ConfigError(f"{kind} is not allowed {_where(node, text)}; allowed: {_ALLOWED_TEXT}")


def _validate_call(node, text):
    if not isinstance(node.func, ast.Name):
        raise ConfigError(f"only plain function names can be called {_where(node, text)}; "
                          f"allowed functions: {', '.join(FUNCTIONS)}")
    name = node.func.id
    if name not in FUNCTIONS:
        raise ConfigError(f"unknown function {name!r} {_where(node, text)}; "
                          f"allowed functions: {', '.join(FUNCTIONS)}")
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        raise ConfigError(f"{name}() takes plain positional arguments {_where(node, text)}")
    if name == "max":
        # max(0, a) and max(a, 0) are relu; any other max has no single gradient rule here
        if len(node.args) != 2 or _zero_index(node.args) is None:
            raise ConfigError(f"max is only supported as max(0, expr), which is relu, {_where(node, text)}")
    elif len(node.args) != 1:
        raise ConfigError(f"{name}() takes exactly one argument, got {len(node.args)} {_where(node, text)}")


def _zero_index(args):
    for i, a in enumerate(args):
        if isinstance(a, ast.Constant) and not isinstance(a.value, bool) and a.value == 0:
            return i
    return None


def _build(node, leaves, text):
    try:
        return _build_node(node, leaves, text)
    except (ValueError, ZeroDivisionError, OverflowError) as exc:
        # innermost failing node reports, with its column and source text
        source = ast.get_source_segment(text, node) or ""
        raise ConfigError(f"cannot evaluate {_short(source, 40)!r} {_where(node, text)}: {exc}") from exc


def _build_node(node, leaves, text):
    # the tree has passed _validate, so only whitelisted shapes arrive here
    if isinstance(node, ast.Constant):
        return Value(_number(node, text))
    if isinstance(node, ast.Name):
        return leaves[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _build(node.operand, leaves, text)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left = _build(node.left, leaves, text)
        if isinstance(node.op, ast.Pow):
            return left ** _constant(node.right, text)
        right = _build(node.right, leaves, text)
        op = _BINARY[type(node.op)]
        return {"+": left.__add__, "-": left.__sub__, "*": left.__mul__, "/": left.__truediv__}[op](right)
    name = node.func.id
    if name == "max":
        return _build(node.args[1 - _zero_index(node.args)], leaves, text).relu()
    return getattr(_build(node.args[0], leaves, text), name)()


def _number(node, text):
    value = node.value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{value!r} is not a number {_where(node, text)}; allowed: {_ALLOWED_TEXT}")
    return float(value)


def _constant(node, text):
    """The value of an exponent, which must be built from numbers only (``2``, ``-0.5``, ``1/3``)."""
    if isinstance(node, ast.Constant):
        return _number(node, text)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _constant(node.operand, text)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        # evaluated in floats, so 9**9**9 overflows with an error instead of hanging on big ints
        left, right = _constant(node.left, text), _constant(node.right, text)
        op = _BINARY[type(node.op)]
        try:
            result = {"+": lambda: left + right, "-": lambda: left - right, "*": lambda: left * right,
                      "/": lambda: left / right, "**": lambda: left**right}[op]()
        except (OverflowError, ZeroDivisionError) as exc:
            raise ValueError(f"exponent has no finite value {_where(node, text)}") from exc
        if isinstance(result, complex) or not math.isfinite(result):
            raise ValueError(f"exponent has no finite real value {_where(node, text)}")
        return result
    raise ConfigError(f"an exponent must be a number {_where(node, text)}: x**2 works, x**y does not")


# -- the node table: computed once, rendered many times -----------------------------------------

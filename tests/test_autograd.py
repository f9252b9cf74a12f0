"""The teaching autograd engine against PyTorch (float64) as the oracle, on random expressions.

    .venv/bin/python -m pytest tests/test_autograd.py -q
"""

import ast
import math
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tweetsent.backprop.autograd import Value

TOL = 1e-6
N_VARS = 3

# Every op is written so it is defined for any finite input: log and ** get a positive
# argument, division a divisor >= 1. Only exp (and products) can still overflow; those
# examples are filtered out by magnitude.
_leaf = st.one_of(
    st.tuples(st.just("var"), st.integers(0, N_VARS - 1)),
    st.tuples(st.just("const"), st.floats(-3.0, 3.0, allow_nan=False)),
)
_unary = ("neg", "relu", "tanh", "sigmoid", "exp", "log", "sqrt", "inv")
_binary = ("add", "sub", "mul", "div", "radd", "rmul", "rsub", "rdiv")
trees = st.recursive(
    _leaf,
    lambda sub: st.one_of(
        st.tuples(st.sampled_from(_unary), sub),
        st.tuples(st.sampled_from(_binary), sub, sub),
        st.tuples(st.just("pow"), sub, st.sampled_from([0, 1, 2, 3, -1, -2])),
    ),
    max_leaves=12,
)


def _evaluate(tree, leaves):
    """The same expression for Value or torch tensors: both offer + - * / ** and .relu() etc."""
    op = tree[0]
    if op == "var":
        return leaves[tree[1]]
    if op == "const":
        return tree[1]  # a bare float, so the r-operators (2 * x) are exercised too
    if op == "pow":
        base = _evaluate(tree[1], leaves)
        # x**k with k < 0 needs x away from 0, so use x*x + 1 there
        return (base * base + 1) ** tree[2] if tree[2] < 0 else _lift(base, leaves) ** tree[2]
    args = [_lift(_evaluate(t, leaves), leaves) for t in tree[1:]]
    if op in _unary:
        (a,) = args
        if op == "neg":
            return -a
        if op == "log":
            return (a * a + 1).log()
        if op == "sqrt":
            return (a * a + 1) ** 0.5
        if op == "inv":
            return 1 / (a * a + 1)
        return getattr(a, op)()
    a, b = args
    c = 1.5  # a number on the left, for __radd__ and friends
    return {
        "add": lambda: a + b,
        "sub": lambda: a - b,
        "mul": lambda: a * b,
        "div": lambda: a / (b * b + 1),
        "radd": lambda: c + a,
        "rmul": lambda: c * a,
        "rsub": lambda: c - a,
        "rdiv": lambda: c / (a * a + 1),
    }[op]()


def _lift(x, leaves):
    """A float constant as a node of the same kind as the leaves (so .relu() exists)."""
    if isinstance(x, float):
        if isinstance(leaves[0], Value):
            return Value(x)
        return torch.tensor(x, dtype=torch.float64)
    return x


def _close(a, b):
    return abs(a - b) <= TOL * max(1.0, abs(b))


@settings(max_examples=200, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(tree=trees, values=st.lists(st.floats(-3.0, 3.0, allow_nan=False), min_size=N_VARS, max_size=N_VARS))
def test_random_expressions_match_torch(tree, values):
    xs = [Value(v, label=f"v{i}") for i, v in enumerate(values)]
    out = _lift(_evaluate(tree, xs), xs)
    assume(abs(out.data) < 1e8)
    out.backward()
    assume(all(abs(x.grad) < 1e8 for x in xs))

    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    t_out = _lift(_evaluate(tree, ts), ts)
    assert _close(out.data, t_out.item()), (tree, out.data, t_out.item())
    if t_out.requires_grad:
        t_out.backward()
    for x, t in zip(xs, ts):
        expected = 0.0 if t.grad is None else t.grad.item()
        assert _close(x.grad, expected), (tree, x.label, x.grad, expected)


@pytest.mark.parametrize("expr", [
    lambda a: a.relu(),
    lambda a: (a * 3).relu() * 2,
    lambda a: (a - a).relu() + a * 0,  # relu of an exact 0 built from the variable itself
])
def test_relu_kink_at_exactly_zero_matches_torch(expr):
    # The subgradient of relu at 0 is 0 in both engines.
    x = Value(0.0)
    out = expr(x)
    out.backward()
    t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    expr(t).backward()
    assert x.grad == t.grad.item() == 0.0
    assert out.data == 0.0


def test_relu_gradient_is_one_just_above_zero():
    x = Value(1e-300)
    x.relu().backward()
    assert x.grad == 1.0


def test_micrograd_sanity_example():
    # karpathy/micrograd test_engine.py test_sanity_check, with float64 torch as the oracle
    x = Value(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    xt = torch.tensor(-4.0, dtype=torch.float64, requires_grad=True)
    zt = 2 * xt + 2 + xt
    qt = zt.relu() + zt * xt
    ht = (zt * zt).relu()
    yt = ht + qt + qt * xt
    yt.backward()
    assert y.data == pytest.approx(yt.item(), abs=TOL)
    assert x.grad == pytest.approx(xt.grad.item(), abs=TOL)


def test_reused_node_sums_gradients_and_backward_is_repeatable():
    x = Value(3.0)
    y = x * x + x
    y.backward()
    assert x.grad == 7.0
    y.backward()  # recomputed from zero, not accumulated
    assert x.grad == 7.0


def test_node_records_op_children_and_local_gradients():
    x, m = Value(2.0, label="x"), Value(-1.0, label="m")
    z = x * m
    assert z.op == "*" and z.children == (x, m) and z.local_grads == (-1.0, 2.0)
    assert z.topo() == [x, m, z]


@pytest.mark.parametrize("make, error, words", [
    (lambda: Value(1.0) / Value(0.0), ZeroDivisionError, "division by zero"),
    (lambda: 1 / Value(0.0), ZeroDivisionError, "division by zero"),
    (lambda: Value(0.0).log(), ValueError, "non-positive"),
    (lambda: Value(-2.0, label="q").log(), ValueError, "node 'q'"),
    (lambda: Value(-8.0) ** 0.5, ValueError, "negative base"),
    (lambda: Value(0.0) ** -1, ZeroDivisionError, r"0 \*\* -1"),
    (lambda: Value(1000.0).exp(), OverflowError, "overflows"),
])
def test_undefined_operations_raise_clear_errors(make, error, words):
    with pytest.raises(error, match=words):
        make()


def test_exponent_must_be_a_number():
    with pytest.raises(TypeError, match="number exponent"):
        Value(2.0) ** Value(2.0)


def test_sigmoid_is_stable_for_large_inputs():
    for v in (-800.0, 800.0):
        s = Value(v).sigmoid()
        assert 0.0 <= s.data <= 1.0 and math.isfinite(s.local_grads[0])


def test_engine_is_a_standard_library_leaf_module():
    import tweetsent.backprop.autograd as autograd

    tree = ast.parse(Path(autograd.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"math"}, imported

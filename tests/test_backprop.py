"""The expression parser, the study's wrong derivation, and the ``backprop`` command.

    .venv/bin/python -m pytest tests/test_backprop.py -q
"""

import json
import math

import pytest
import typer
from typer.testing import CliRunner

from tweetsent.backprop.autograd import Value
from tweetsent.backprop.lesson import (
    STUDY_EXPRESSION,
    check_gradients,
    node_table,
    parse_expression,
    study_claims,
    study_graph,
    to_dot,
)
from tweetsent.cli.backprop import backprop
from tweetsent.errors import ConfigError

VARS = {"x": 2.0, "m": -1.0, "b": 3.0, "t": 4.0}


# -- parser ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("x + m", 1.0),
    ("x - m", 3.0),
    ("x * m", -2.0),
    ("x / b", 2.0 / 3.0),
    ("x ** 3", 8.0),
    ("x ** -1", 0.5),
    ("x ** (1/2)", math.sqrt(2.0)),
    ("-x", -2.0),
    ("+x", 2.0),
    ("relu(m)", 0.0),
    ("max(0, x)", 2.0),
    ("max(m, 0)", 0.0),
    ("tanh(x)", math.tanh(2.0)),
    ("sigmoid(m)", 1.0 / (1.0 + math.e)),
    ("exp(b)", math.exp(3.0)),
    ("log(t)", math.log(4.0)),
    ("2.5 * x - 1", 4.0),
    ("1 / x", 0.5),
    (STUDY_EXPRESSION, 9.0),
])
def test_parser_evaluates_every_operation(text, expected):
    assert parse_expression(text, VARS).data == pytest.approx(expected)


def test_a_variable_used_twice_is_one_leaf():
    out = parse_expression("x * x + x", VARS)
    table = node_table(out)
    assert table["gradients"] == {"x": 5.0}
    assert [row["name"] for row in table["nodes"] if row["kind"] == "input"] == ["x"]


@pytest.mark.parametrize("text, words", [
    ("__import__('os')", ["unknown function '__import__'", "column 1"]),
    ("__import__('os').system('true')", ["only plain function names", "column 1"]),
    ("x.real", ["attribute access", "column 1"]),
    ("foo(x)", ["unknown function 'foo'", "allowed functions"]),
    ("x * (m +", ["syntax error", "column"]),
    ("x +* 2", ["syntax error at column 4"]),
    ("x + q", ["variable 'q'", "--var q=VALUE"]),
    ("x[0]", ["indexing"]),
    ("x if m else b", ["if/else"]),
    ("x < m", ["comparison"]),
    ("lambda: 1", ["lambda"]),
    ("'a'", ["'a' is not a number"]),
    ("True + x", ["True is not a number"]),
    ("x % 2", ["operator Mod is not supported"]),
    ("x ^ 2", ["use ** for powers"]),
    ("x ** m", ["exponent must be a number"]),
    ("x + os.system('ls')", ["only plain function names", "column 5"]),
    ("2 ** 9 ** 9 ** 9 * x", ["exponent has no finite value"]),
    ("log(m) + x.y", ["attribute access"]),
    ("max(1, x)", ["max is only supported as max(0, expr)"]),
    ("tanh(x, m)", ["exactly one argument"]),
    ("log(m)", ["log of a non-positive", "log(m)"]),
    ("x / (m + 1)", ["division by zero", "column 1"]),
    ("exp(1000 * x)", ["overflows"]),
    ("", ["empty expression"]),
])
def test_parser_rejects_bad_expressions_by_name(text, words):
    with pytest.raises(ConfigError) as info:
        parse_expression(text, VARS)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_parser_never_evaluates_python(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(ConfigError):
        parse_expression(f"__import__('pathlib').Path({str(marker)!r}).touch()", VARS)
    assert not marker.exists()


# -- node table, checks, DOT -------------------------------------------------------------------


def test_node_table_downstream_is_upstream_times_local():
    table = node_table(parse_expression("tanh(x * m) + sigmoid(b) / exp(t) - log(x) ** 2", VARS))
    assert table["output"] == "o"
    for row in table["nodes"]:
        assert len(row["local"]) == len(row["inputs"]) == len(row["downstream"])
        for local, sent in zip(row["local"], row["downstream"]):
            assert sent == pytest.approx(row["upstream"] * local)
    # each node's upstream is the sum of what its consumers send to it
    received = {row["name"]: 0.0 for row in table["nodes"]}
    received[table["output"]] = 1.0
    for row in table["nodes"]:
        for child, sent in zip(row["inputs"], row["downstream"]):
            received[child] += sent
    for row in table["nodes"]:
        assert row["upstream"] == pytest.approx(received[row["name"]])


@pytest.mark.parametrize("text", [STUDY_EXPRESSION, "tanh(x) * sigmoid(m) / exp(b) + log(t) - x ** 0.5",
                                  "relu(x + m + 1) * 3"])
def test_check_agrees_with_torch_and_finite_differences(text):
    result = check_gradients(parse_expression(text, VARS))
    assert result["ok"]
    assert result["torch_max"] <= 1e-6 and result["fd_max"] <= 1e-4


def test_check_flags_a_relu_kink_without_failing():
    result = check_gradients(parse_expression("relu(x + m - 1)", VARS))  # relu(0)
    assert result["near_kink"] and result["ok"]
    assert result["torch_max"] == 0.0


def test_dot_has_every_node_and_edge():
    text = to_dot(node_table(study_graph(**{"x": 2, "m": -1, "b": 3, "t": 4})["o"]))
    assert text.startswith("digraph backprop {") and text.rstrip().endswith("}")
    assert text.count("->") == 8
    assert '"z" -> "a" [label="grad -6 (local 1)"]' in text
    assert "\\nvalue 9\\ngrad 1" in text


# -- the course study --------------------------------------------------------------------------


def test_study_graph_gives_the_correct_gradients():
    n = study_graph(x=2, m=-1, b=3, t=4)
    assert [n[k].data for k in ("z", "a", "y", "e", "o")] == [-2.0, 1.0, 1.0, -3.0, 9.0]
    assert n["a"].local_grads == (1.0, 1.0)  # a = z + b: da/dz = da/db = 1
    do_da = 2 * (n["y"].data - 4) * 1.0  # 2(y - y*) * relu'(a)
    assert (n["z"].grad, n["b"].grad) == (do_da, do_da)
    assert (n["x"].grad, n["m"].grad) == (do_da * -1, do_da * 2)


def test_the_study_claims_differ_from_the_correct_gradients():
    claims = {row["quantity"]: row for row in study_claims(x=2, m=-1, b=3, t=4)}
    # the study: da/dz = b and da/db = z; correct: both 1
    assert (claims["da/dz"]["study"], claims["da/dz"]["correct"]) == (3.0, 1.0)
    assert (claims["da/db"]["study"], claims["da/db"]["correct"]) == (-2.0, 1.0)
    # do/da = 2(1 - 4) = -6; the study multiplies by b (or z) where it should by 1
    expected = {"do/dz": (-18.0, -6.0), "do/db": (12.0, -6.0), "do/dx": (18.0, 6.0), "do/dm": (-36.0, -12.0)}
    for quantity, (study, correct) in expected.items():
        assert (claims[quantity]["study"], claims[quantity]["correct"]) == (study, correct)
    assert all(row["differs"] for row in claims.values())


def test_study_claims_agree_only_where_b_is_one_and_z_is_one():
    # a sanity check of the encoding: with b = z = 1 the wrong locals happen to equal 1
    claims = study_claims(x=1, m=1, b=1, t=5)
    assert not any(row["differs"] for row in claims)


# -- the command -------------------------------------------------------------------------------


@pytest.fixture()
def run():
    app = typer.Typer()
    app.command()(backprop)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_cli_default_prints_the_node_table_and_the_study_comparison(run):
    result = run()
    assert result.exit_code == 0, result.output
    out = result.output
    for text in ("relu(a)", "z + b", "da/dz = 1", "da/db = 1", "-6*-1 = 6 to x", "y*", "study"):
        assert text in out, text
    assert "-18" in out and "-36" in out  # the study's wrong do/dz and do/dm


def test_cli_expression_with_var(run):
    result = run("--expr", "w * q + 1", "--var", "w=0.5", "--var", "q=-3")
    assert result.exit_code == 0, result.output
    assert "dn1/dw = -3" in result.output


def test_cli_json_is_one_object_with_every_gradient(run):
    result = run("--json", "--expr", STUDY_EXPRESSION, "--m", "-1")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["value"] == 9.0
    assert data["gradients"] == {"x": 6.0, "m": -12.0, "b": -6.0, "t": 6.0}
    assert {row["name"] for row in data["nodes"]} >= {"x", "m", "b", "t", "o"}
    assert all("upstream" in row and "value" in row for row in data["nodes"])


def test_cli_check(run):
    result = run("--check", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["check"]["ok"] and data["check"]["torch_max"] <= 1e-6
    plain = run("--check")
    assert plain.exit_code == 0 and "check ok" in plain.output


def test_cli_dot_writes_a_graph(run, tmp_path):
    path = tmp_path / "graph.dot"
    result = run("--dot", str(path), "--x", "1", "--m", "0.5")
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert text.startswith("digraph") and text.count("->") == 8 and "grad" in text
    assert [p.name for p in tmp_path.iterdir()] == ["graph.dot"]  # no temp file left behind


@pytest.mark.parametrize("args, words", [
    (["--expr", "__import__('os')"], "unknown function '__import__'"),
    (["--expr", "x * (m +"], "syntax error"),
    (["--expr", "x + zeta"], "variable 'zeta'"),
    (["--expr", "x.y"], "attribute access"),
    (["--var", "oops"], "NAME=VALUE"),
    (["--dot", "/proc/version/g.dot"], "cannot write DOT file"),  # under a file: not even root can
])
def test_cli_bad_input_is_one_line_exit_2(run, args, words):
    result = run(*args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, ConfigError)


def test_cli_check_failure_exits_non_zero(run, monkeypatch):
    import tweetsent.backprop.lesson as lesson

    def broken(output):
        return {"ok": False, "torch_max": 1.0, "torch_node": "x", "fd_max": 0.0, "fd_node": "x",
                "near_kink": False, "torch_tol": 1e-6, "fd_tol": 1e-4}

    monkeypatch.setattr(lesson, "check_gradients", broken)
    result = run("--check")
    assert result.exit_code == 1 and "FAILED" in result.output


def test_value_graph_built_by_hand_gets_a_table():
    x = Value(1.5, label="x")
    table = node_table((x * 2).tanh())
    assert table["inputs"] == {"x": 1.5}
    assert table["gradients"]["x"] == pytest.approx(2 * (1 - math.tanh(3.0) ** 2))

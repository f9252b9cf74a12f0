"""Comparisons: paired statistics, the overfitting rule, compare_runs, reports and their commands."""

from __future__ import annotations

import json
import math
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import typer
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from tweetsent.cli.compare import compare, report
from tweetsent.config.resolve import resolve_config
from tweetsent.errors import DataError, ModelError
from tweetsent.evaluation.compare import METRIC_ROWS, compare_runs, load_run_summary
from tweetsent.evaluation.confusion import class_f1
from tweetsent.evaluation.overfit import overfit_verdict
from tweetsent.evaluation.stats import compare_pair, mcnemar, paired_bootstrap
from tweetsent.reporting.render import stylesheet
from tweetsent.reporting.report import write_report
from tweetsent.runs.workflow import train_run

SCRIPT_TWEET = "<script>alert('pwned')</script> poison autism toxic refuse danger"


# --- statistics ----------------------------------------------------------------------------------

def _labels(n=500, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)

    def model(p_right):
        wrong = (y + rng.integers(1, 3, n)) % 3  # always a different class
        return np.where(rng.random(n) < p_right, y, wrong)

    return y, model(0.60), model(0.85)


def test_identical_predictions_show_no_difference():
    y, a, _ = _labels()
    result = compare_pair(y, a, a.copy(), "A", "B", n_resamples=500)
    for metric in ("accuracy", "f1_macro"):
        boot = result[metric]["bootstrap"]
        assert boot["difference"] == 0 and boot["ci_low"] <= 0 <= boot["ci_high"]
        assert not result[metric]["significant"] and "no evidence of a difference" in result[metric]["statement"]
    assert result["mcnemar"]["p_value"] == 1.0 and result["mcnemar"]["b01"] == result["mcnemar"]["b10"] == 0


def test_a_clearly_better_model_is_significant_with_the_right_sign():
    y, worse, better = _labels()
    result = compare_pair(y, worse, better, "weak", "strong", n_resamples=1000)
    acc = result["accuracy"]
    assert acc["bootstrap"]["difference"] == pytest.approx((better == y).mean() - (worse == y).mean())
    assert 0 < acc["bootstrap"]["ci_low"] < acc["bootstrap"]["difference"] < acc["bootstrap"]["ci_high"]
    assert acc["significant"] and result["mcnemar"]["p_value"] < 1e-6 and result["f1_macro"]["significant"]
    assert acc["statement"].startswith("strong is more accurate than weak by")
    assert "a real difference on these 500 tweets" in acc["statement"]
    flipped = compare_pair(y, better, worse, "strong", "weak", n_resamples=1000)["accuracy"]
    assert flipped["bootstrap"]["difference"] < 0 and flipped["bootstrap"]["ci_high"] < 0
    assert flipped["statement"].startswith("strong is more accurate than weak by")


def _with_discordant(b01, b10, concordant=40):
    """Labels where A alone is right on b01 tweets and B alone on b10 tweets."""
    y = np.zeros(b01 + b10 + concordant, dtype=int)
    a, b = y.copy(), y.copy()
    b[:b01] = 1
    a[b01:b01 + b10] = 1
    a[-5:] = b[-5:] = 2  # a few both wrong
    return y, a, b


def test_mcnemar_exact_branch_matches_the_binomial_by_hand():
    result = mcnemar(*_with_discordant(2, 8))
    assert (result["b01"], result["b10"], result["both_wrong"]) == (2, 8, 5) and result["method"] == "exact"
    # two-sided: 2 * P(X <= 2), X ~ Binomial(10, 1/2) = 2 * (1 + 10 + 45) / 1024
    assert result["p_value"] == pytest.approx(112 / 1024) and result["statistic"] is None


def test_mcnemar_chi_square_branch_matches_by_hand():
    result = mcnemar(*_with_discordant(10, 25))
    assert result["method"] == "chi2"
    assert result["statistic"] == pytest.approx((25 - 10 - 1) ** 2 / 35)  # 5.6
    # the chi-square(1) survival function is erfc(sqrt(x / 2))
    assert result["p_value"] == pytest.approx(math.erfc(math.sqrt(5.6 / 2)))


def test_bootstrap_is_deterministic_with_a_seed_and_f1_matches_sklearn():
    y, a, b = _labels(300)
    first = paired_bootstrap(y, a, b, "f1_macro", n_resamples=300, seed=7)
    assert first == paired_bootstrap(y, a, b, "f1_macro", n_resamples=300, seed=7)
    assert first != paired_bootstrap(y, a, b, "f1_macro", n_resamples=300, seed=8)
    assert first["a"] == pytest.approx(f1_score(y, a, average="macro"))
    idx = np.random.default_rng(0).integers(0, len(y), size=(5, len(y)))
    rows = class_f1(y[idx], b[idx], 3)[0].mean(axis=1)
    assert rows == pytest.approx([f1_score(y[i], b[i], average="macro", labels=[0, 1, 2], zero_division=0)
                                  for i in idx])


# --- the overfitting rule -------------------------------------------------------------------------

def _history(val_losses, train_losses=None):
    train_losses = train_losses or [1.0 - 0.05 * i for i in range(len(val_losses))]
    return [{"epoch": i + 1, "train_loss": t, "val_loss": v} for i, (t, v) in enumerate(zip(train_losses, val_losses))]


def test_rising_validation_loss_is_overfitting():
    verdict = overfit_verdict(_history([0.9, 0.7, 0.6, 0.65, 0.72, 0.8]))
    assert verdict["verdict"] == "overfitting" and verdict["best_epoch"] == 3 and verdict["last_epoch"] == 6
    assert verdict["val_loss_rise"]["absolute"] == pytest.approx(0.2)
    assert verdict["val_loss_rise"]["relative"] == pytest.approx(0.2 / 0.6)
    assert verdict["train_loss_change_after_best"] == pytest.approx(-0.15)
    assert "epoch 3" in verdict["evidence"] and "+33.3%" in verdict["evidence"] and "2%" in verdict["rule"]


@pytest.mark.parametrize("val_losses, train_losses", [
    ([0.9, 0.7, 0.6, 0.6, 0.605, 0.61], None),  # flat: a rise of 1.7% is noise
    ([0.9, 0.7, 0.6, 0.5, 0.45, 0.4], None),  # still falling
    ([0.9, 0.7, 0.6, 0.7, 0.8, 0.9], [1.0, 0.8, 0.7, 0.75, 0.8, 0.85]),  # both rising: not overfitting
])
def test_flat_or_falling_validation_loss_shows_no_sign(val_losses, train_losses):
    assert overfit_verdict(_history(val_losses, train_losses))["verdict"] == "no sign of overfitting"


def test_the_gap_alone_decides_without_a_history():
    val = {"accuracy": 0.80, "f1_macro": 0.78}
    wide = overfit_verdict([], {"accuracy": 0.97, "f1_macro": 0.96}, val)
    assert wide["verdict"] == "overfitting" and wide["best_epoch"] is None
    assert wide["train_val_gap"] == pytest.approx({"accuracy": 0.17, "f1_macro": 0.18})
    assert "+0.180" in wide["evidence"]
    assert overfit_verdict([], {"accuracy": 0.84, "f1_macro": 0.83}, val)["verdict"] == "no sign of overfitting"
    assert overfit_verdict([], None, val)["verdict"] == "unknown"
    assert overfit_verdict([{"epoch": 1, "train_loss": 0.5}])["verdict"] == "unknown"


# --- real runs ------------------------------------------------------------------------------------

def _train(overrides, train_csv, val_csv, out, seed, name="tiny"):
    cfg = resolve_config(None, overrides, seed)
    cfg.name = name
    return train_run(cfg, train_csv, val_csv, out=out, figures=False).run_dir


@pytest.fixture
def runs(tmp_path, corpus, tiny_overrides):
    """Two tiny runs (seeds 0 and 1) on a validation file whose first tweet is an HTML attack."""
    val = pd.read_csv(corpus[1], index_col=0)
    val.loc[0, ["tweet", "label"]] = [SCRIPT_TWEET, 2]  # anti-vaccine words, pro label: surely misclassified
    val_csv = tmp_path / "val_script.csv"
    val.to_csv(val_csv)
    return [_train(tiny_overrides, corpus[0], val_csv, tmp_path / f"run-s{seed}", seed, f"tiny-s{seed}")
            for seed in (0, 1)]


def test_compare_runs_table_holds_each_runs_own_numbers(runs):
    result = compare_runs(runs, n_resamples=200)
    assert result["names"] == ["tiny-s0", "tiny-s1"] and result["n"] == 12
    rows = {row["key"]: row for row in result["table"]}
    for name, run_dir in zip(result["names"], runs):
        metrics = json.loads((run_dir / "metrics.json").read_text())
        info = json.loads((run_dir / "run.json").read_text())
        for key, _, _ in METRIC_ROWS:
            assert rows[key]["values"][name] == metrics[key], key
        for cls, scores in metrics["per_class"].items():
            assert rows[f"per_class.{cls}.f1"]["values"][name] == scores["f1"]
        assert rows["seconds"]["values"][name] == info["seconds"]
        assert rows["best_epoch"]["values"][name] == info["best_epoch"]
        assert rows["overfit"]["values"][name] in ("overfitting", "no sign of overfitting")
    assert rows["loss"]["best"] == [min(rows["loss"]["values"], key=rows["loss"]["values"].get)]
    (pair,) = result["pairs"]
    assert (pair["a"], pair["b"], pair["n"]) == ("tiny-s0", "tiny-s1", 12)
    assert pair["accuracy"]["bootstrap"]["a"] == rows["accuracy"]["values"]["tiny-s0"]
    json.dumps(result)  # plain data throughout


def test_runs_sharing_a_name_are_told_apart_by_folder(tmp_path, runs):
    info = json.loads((runs[1] / "run.json").read_text())
    info["name"] = "tiny-s0"
    (runs[1] / "run.json").write_text(json.dumps(info))
    assert compare_runs(runs, n_resamples=50)["names"] == ["tiny-s0 (run-s0)", "tiny-s0 (run-s1)"]


def test_runs_on_different_validation_files_are_refused(tmp_path, corpus, tiny_overrides, runs):
    other = _train(tiny_overrides, corpus[0], corpus[1], tmp_path / "other", 0, "other")
    with pytest.raises(DataError, match="different validation data") as info:
        compare_runs([runs[0], other])
    assert "val_script.csv" in str(info.value) and str(corpus[1]) in str(info.value)


def test_a_damaged_run_is_named(tmp_path, runs):
    broken = tmp_path / "broken"
    shutil.copytree(runs[0], broken)
    (broken / "history.json").write_text("[{")
    with pytest.raises(ModelError, match="history.json: cannot be read as JSON"):
        load_run_summary(broken)
    shutil.copy(runs[0] / "history.json", broken / "history.json")
    (broken / "metrics.json").unlink()
    with pytest.raises(ModelError, match=r"metrics.json: missing.*--val"):
        load_run_summary(broken)


def test_html_report_is_one_self_contained_file(tmp_path, runs):
    folder = tmp_path / "reports"
    out = write_report(runs, folder / "cmp.html", n_resamples=100)
    assert [p.name for p in folder.iterdir()] == ["cmp.html"]
    page = out.read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") >= 4  # loss, f1, roc and one confusion matrix per run
    # no external resource: tweets may mention URLs as text, but nothing is loaded from one
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//|url\(|@import|<link|<script""", page)
    assert SCRIPT_TWEET not in page and "&lt;" in page and "<span class=\"tok\"" in page
    plain = write_report(runs, folder / "plain.html", n_resamples=100, highlight=False).read_text(encoding="utf-8")
    assert html_escaped(SCRIPT_TWEET) in plain and "<span class=\"tok\" style=\"background: rgba(220" not in plain
    for run_dir in runs:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        for key in ("accuracy", "f1_macro", "f1_weighted", "loss", "roc_auc_macro"):
            assert f"{metrics[key]:.4f}" in page, key
    assert "Rule: Overfitting when validation loss rose" in page and "McNemar" in page
    assert stylesheet() in page  # the one stylesheet, inlined whole


def test_misclassified_tweets_are_highlighted_by_their_contribution_to_the_wrong_label(tmp_path, runs):
    from html import unescape

    from tweetsent.models.classifier import TweetClassifier
    from tweetsent.models.explain import explain

    page = write_report(runs[:1], tmp_path / "one.html", n_resamples=100, n_examples=2).read_text(encoding="utf-8")
    section = page[page.index("<h2>Misclassified tweets</h2>"):page.index("<h2>Runs</h2>")]
    rows = re.findall(r'<tr><td class="l">([^<]*)</td><td class="l">([^<]*)</td><td>([0-9.]+)</td><td class="tweet">(.*?)</td></tr>',
                      section, re.S)
    assert rows, section
    confidences = [float(c) for _, _, c, _ in rows]
    assert confidences == sorted(confidences, reverse=True)  # most confident errors first, whatever the class
    clf = TweetClassifier.load(runs[0])
    for true, predicted, _, cell in rows:
        assert true != predicted
        text = unescape(re.sub(r"<[^>]+>", "", cell))  # the spans cover the tweet exactly, in order
        spans = re.findall(r'title="([+-][0-9.]+)">([^<]*)</span>', cell)
        tokens = explain(clf, [text])[0]["tokens"]
        strongest = max(tokens, key=lambda t: abs(t["contributions"][predicted]))
        # the darkest span is the token that moved the wrong label's probability most
        darkest = max(spans, key=lambda s: abs(float(s[0])))
        assert unescape(darkest[1]) == text[strongest["start"]:strongest["end"]]
        assert float(darkest[0]) == pytest.approx(strongest["contributions"][predicted], abs=5e-4)

    md = write_report(runs[:1], tmp_path / "one.md", format="md", n_resamples=100).read_text(encoding="utf-8")
    assert "| true | predicted | confidence | tweet | why |" in md
    assert re.search(r"\| (–|[^|]+ \(\+\d\.\d\d\)) \|\n", md)  # the tokens that pushed towards the wrong label, if any


def test_a_run_without_its_model_is_reported_without_highlights(tmp_path, runs):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(runs[0], bare)
    shutil.rmtree(bare / "model")
    page = write_report([bare], tmp_path / "bare.html", n_resamples=100).read_text(encoding="utf-8")
    assert f"Tokens not highlighted: no model in {bare}" in page and "misclassified" in page.lower()


def html_escaped(text):
    """Escaped as the report templates' autoescaping does it (``'`` becomes ``&#39;``)."""
    from markupsafe import escape

    return str(escape(text))


def test_markdown_report_writes_pngs_beside_and_one_run_works(tmp_path, runs):
    out = write_report(runs[:1], tmp_path / "md" / "one.md", format="md", n_examples=5)
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == ["one-confusion-1.png", "one-f1.png", "one-loss.png", "one-roc.png", "one.md"]
    text = out.read_text(encoding="utf-8")
    assert "![" in text and "(one-roc.png)" in text and "Is the difference real" not in text
    assert "<script>" not in text and "&lt;script&gt;" in text


# --- the commands ---------------------------------------------------------------------------------

runner = CliRunner()
app = typer.Typer()
app.command("compare")(compare)
app.command("report")(report)


def test_compare_command_prints_a_table_and_json(tmp_path, runs):
    human = runner.invoke(app, ["compare", *map(str, runs), "--resamples", "100"])
    assert human.exit_code == 0, human.output
    assert "accuracy" in human.stdout and "cross-entropy loss" in human.stdout and "tiny-s1" in human.stdout
    assert "on these 12 tweets" in human.stdout

    result = runner.invoke(app, ["compare", *map(str, runs), "--json", "--resamples", "100",
                                 "--report", str(tmp_path / "c.md")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["name"] for r in data["runs"]] == ["tiny-s0", "tiny-s1"] and len(data["significance"]) == 1
    accuracy = next(row for row in data["table"] if row["key"] == "accuracy")
    assert accuracy["values"]["tiny-s1"] == json.loads((runs[1] / "metrics.json").read_text())["accuracy"]
    assert (tmp_path / "c.md").exists() and (tmp_path / "c-roc.png").exists()


def test_report_command_and_refusals_exit_2(tmp_path, corpus, tiny_overrides, runs):
    ok = runner.invoke(app, ["report", str(runs[0]), "--out", str(tmp_path / "r.html"), "--resamples", "50"])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "r.html").exists() and ok.stdout.strip() == f"report: {tmp_path / 'r.html'}"

    other = _train(tiny_overrides, corpus[0], corpus[1], tmp_path / "other", 0, "other")
    for args in (["compare", str(runs[0]), str(other)],
                 ["report", str(runs[0]), str(other), "--out", str(tmp_path / "x.html")],
                 ["compare", str(runs[0])],
                 ["report", str(runs[0]), "--out", str(tmp_path / "x.pdf"), "--format", "pdf"],
                 ["compare", str(runs[0]), str(tmp_path / "nope")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert "Traceback" not in result.output
    assert not (tmp_path / "x.html").exists()

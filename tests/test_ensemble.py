"""`tweetsent ensemble`: the mean of several runs' probabilities, usable by evaluate, predict and compare."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from tweetsent.cli.ensemble import ensemble
from tweetsent.cli.main import app
from tweetsent.config.resolve import resolve_config
from tweetsent.models.classifier import TweetClassifier
from tweetsent.runs.workflow import train_run

runner = CliRunner()


def _ensemble_app() -> typer.Typer:
    small = typer.Typer()
    small.command("ensemble")(ensemble)
    small.command("noop")(lambda: None)  # two commands: typer keeps the subcommand name
    return small


@pytest.fixture
def two_runs(corpus, tiny_overrides, tmp_path):
    train, val = corpus
    a = train_run(resolve_config(None, [*tiny_overrides, "train.seed=1"]), train, val, out=tmp_path / "a", figures=False)
    b = train_run(resolve_config(None, [*tiny_overrides, "features.input=ngrams", "model.kind=softmax"]), train, val,
                  out=tmp_path / "b", figures=False)
    return a.run_dir, b.run_dir


def test_ensemble_is_the_weighted_mean_and_evaluate_predict_accept_it(two_runs, corpus, tmp_path):
    a, b = two_runs
    out = tmp_path / "ens"
    result = runner.invoke(_ensemble_app(), ["ensemble", str(a), str(b), "--out", str(out), "--weights", "3,1",
                                             "--val", str(corpus[1])])
    assert result.exit_code == 0, result.output
    for name in ("model/model.json", "metrics.json", "predictions.csv", "run.json", "history.json", "config.toml",
                 "figures/confusion.png"):
        assert (out / name).exists(), name
    meta = json.loads((out / "model" / "model.json").read_text())
    assert meta["model_kind"] == "ensemble" and meta["weights"] == [0.75, 0.25]
    assert not any(p.startswith("/") for p in meta["members"])  # relative: the folder can move with its runs

    val = pd.read_csv(corpus[1])
    texts = val.tweet.tolist()
    expected = 0.75 * TweetClassifier.load(a).predict_proba(texts) + 0.25 * TweetClassifier.load(b).predict_proba(texts)
    ens = TweetClassifier.load(out)
    np.testing.assert_allclose(ens.predict_proba(texts), expected, atol=1e-6)

    evaluated = runner.invoke(app, ["evaluate", str(out), "--data", str(corpus[1]), "--json", "--no-log"])
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads(evaluated.output)
    assert metrics["accuracy"] == pytest.approx(json.loads((out / "metrics.json").read_text())["accuracy"])
    predicted = runner.invoke(app, ["predict", str(out), "--data", str(corpus[1]), "--out", str(tmp_path / "p.csv")])
    assert predicted.exit_code == 0, predicted.output
    assert len(pd.read_csv(tmp_path / "p.csv")) == len(val)

    compared = runner.invoke(app, ["compare", str(a), str(out), "--json"])
    assert compared.exit_code == 0, compared.output


def test_equal_weights_by_default(two_runs, tmp_path, corpus):
    a, b = two_runs
    result = runner.invoke(_ensemble_app(), ["ensemble", str(a), str(b), "--out", str(tmp_path / "e")])
    assert result.exit_code == 0, result.output
    texts = pd.read_csv(corpus[1]).tweet.tolist()
    mean = (TweetClassifier.load(a).predict_proba(texts) + TweetClassifier.load(b).predict_proba(texts)) / 2
    np.testing.assert_allclose(TweetClassifier.load(tmp_path / "e").predict_proba(texts), mean, atol=1e-6)


def test_members_with_other_classes_are_refused(two_runs, corpus, tiny_overrides, tmp_path):
    a, _ = two_runs
    train = pd.read_csv(corpus[0])
    two = train[train.label != 2]
    path = tmp_path / "two.csv"
    two.to_csv(path, index=False)
    c = train_run(resolve_config(None, tiny_overrides), path, out=tmp_path / "c", figures=False).run_dir
    result = runner.invoke(_ensemble_app(), ["ensemble", str(a), str(c), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "same classes" in result.output and not (tmp_path / "x").exists()


@pytest.mark.parametrize("args, message", [
    (["--weights", "1,x"], "give comma-separated numbers"),
    (["--weights", "1,2,3"], "3 weights for 2 runs"),
])
def test_bad_weights(two_runs, tmp_path, args, message):
    a, b = two_runs
    result = runner.invoke(_ensemble_app(), ["ensemble", str(a), str(b), "--out", str(tmp_path / "y"), *args])
    assert result.exit_code == 2 and message in result.output


def _member_files(tmp_path, glove_file) -> tuple[str, str]:
    a, b = tmp_path / "net.toml", tmp_path / "soft.toml"
    a.write_text(f'[features]\nembeddings = "{glove_file}"\n[model]\nhidden = [16, 8]\n'
                 f'[train]\nepochs = 20\nbatch_size = 8\nlr = 0.01\n', encoding="utf-8")
    b.write_text('[features]\ninput = "ngrams"\n[model]\nkind = "softmax"\n[train]\nepochs = 20\nbatch_size = 8\n'
                 'lr = 0.01\nthresholds = "tuned"\nholdout = 0.3\n', encoding="utf-8")
    return str(a), str(b)


def test_an_ensemble_config_trains_its_members_and_averages_them(corpus, glove_file, tmp_path):
    from tweetsent.training.loop import Callback

    net, soft = _member_files(tmp_path, glove_file)
    ens_file = tmp_path / "ens.toml"
    ens_file.write_text(f'[model]\nkind = "ensemble"\n[ensemble]\nmembers = ["{net}", "{soft}"]\nweights = [3, 1]\n',
                        encoding="utf-8")

    class Seen(Callback):
        records: list = []

        def on_epoch_end(self, record, model):
            self.records.append(record)

    cfg = resolve_config(str(ens_file), seed=4)
    result = train_run(cfg, *corpus, out=tmp_path / "run", figures=False, callbacks=[Seen()])
    members = sorted((result.run_dir / "model" / "members").iterdir())
    assert [m.name for m in members] == ["0-net", "1-soft"]
    assert len(json.loads((members[1] / "history.json").read_text())) == 20  # each member keeps its epochs

    # each member is what its own config trains (with the ensemble's seed), and the mean is weighted
    val = pd.read_csv(corpus[1]).tweet.tolist()
    train = pd.read_csv(corpus[0])
    alone = [TweetClassifier(resolve_config(spec, seed=4)).fit(train.tweet.tolist(), train.label.to_numpy())
             for spec in (net, soft)]
    expected = 0.75 * alone[0].predict_proba(val) + 0.25 * alone[1].predict_proba(val)
    loaded = TweetClassifier.load(result.run_dir)
    np.testing.assert_allclose(loaded.predict_proba(val), expected, atol=1e-5)
    assert loaded.config_.model.kind == "ensemble" and loaded.config_.ensemble.members == [net, soft]
    assert loaded.decision()["members"][1]["applied"]  # the softmax member keeps its tuned thresholds

    # callbacks see one run: epochs numbered on across members, each record naming its member
    epochs = [r["epoch"] for r in Seen.records]
    assert epochs == list(range(1, 41))
    assert {r["member"] for r in Seen.records[:20]} == {"net"} and Seen.records[20]["member_epoch"] == 1
    assert json.loads((result.run_dir / "metrics.json").read_text())["accuracy"] == pytest.approx(
        float((loaded.predict(val) == pd.read_csv(corpus[1]).label.to_numpy()).mean()))


def test_an_ensemble_run_from_the_command_line_works_with_evaluate_compare_and_report(corpus, glove_file, tmp_path):
    net, soft = _member_files(tmp_path, glove_file)
    ens_file = tmp_path / "ens.toml"
    ens_file.write_text(f'[model]\nkind = "ensemble"\n[ensemble]\nmembers = ["{net}", "{soft}"]\n', encoding="utf-8")
    train, val = map(str, corpus)
    trained = runner.invoke(app, ["train", "--config", str(ens_file), "--train", train, "--val", val, "--no-log",
                                  "--out", str(tmp_path / "ens-run"), "--no-figures"])
    assert trained.exit_code == 0, trained.output
    assert "soft: epoch 20/20" in trained.output  # progress names the member
    single = runner.invoke(app, ["train", "--config", soft, "--train", train, "--val", val, "--no-log",
                                 "--out", str(tmp_path / "soft-run"), "--no-figures"])
    assert single.exit_code == 0, single.output
    for args in (["evaluate", str(tmp_path / "ens-run"), "--data", val, "--no-log"],
                 ["compare", str(tmp_path / "ens-run"), str(tmp_path / "soft-run")],
                 ["report", str(tmp_path / "ens-run"), str(tmp_path / "soft-run"), "--out", str(tmp_path / "r.html")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args[0], result.output)
    assert "ens-run" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_member_files_are_found_beside_the_ensemble_file(tmp_path, glove_file, monkeypatch):
    net, soft = _member_files(tmp_path, glove_file)
    (tmp_path / "ens.toml").write_text('[model]\nkind = "ensemble"\n[ensemble]\nmembers = ["net.toml", "soft.toml"]\n',
                                       encoding="utf-8")
    monkeypatch.chdir(tmp_path.parent)
    cfg = resolve_config(str(tmp_path / "ens.toml"))
    assert cfg.ensemble.members == [net, soft]


@pytest.mark.parametrize("members, message", [
    ('["seed-prelu"]', "needs two or more"),
    ('["seed-prelu", "no-such-preset"]', "ensemble.members: unknown preset 'no-such-preset'"),
])
def test_ensemble_config_errors_name_the_key(corpus, tmp_path, members, message):
    ens_file = tmp_path / "ens.toml"
    ens_file.write_text(f'[model]\nkind = "ensemble"\n[ensemble]\nmembers = {members}\n', encoding="utf-8")
    result = runner.invoke(app, ["train", "--config", str(ens_file), "--train", str(corpus[0]), "--no-log",
                                 "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_a_member_listed_twice_trains_again_with_the_next_seed(corpus, tmp_path):
    soft = tmp_path / "soft.toml"
    soft.write_text('[features]\ninput = "ngrams"\n[model]\nkind = "softmax"\n[train]\nepochs = 5\nbatch_size = 8\n'
                    'lr = 0.01\n', encoding="utf-8")
    ens = tmp_path / "ens.toml"
    ens.write_text(f'[model]\nkind = "ensemble"\n[ensemble]\nmembers = ["{soft}", "{soft}"]\n', encoding="utf-8")
    train = pd.read_csv(corpus[0])
    texts, labels = train.tweet.tolist(), train.label.to_numpy()
    fitted = TweetClassifier(resolve_config(str(ens), seed=7)).fit(texts, labels)
    first, second = fitted.model_.members_
    assert [m.config_.train.seed for m in (first, second)] == [7, 8]
    alone = TweetClassifier(resolve_config(str(soft), seed=8)).fit(texts, labels)
    np.testing.assert_allclose(second.predict_proba(texts), alone.predict_proba(texts), atol=1e-6)
    assert not np.allclose(first.predict_proba(texts), second.predict_proba(texts), atol=1e-4)

"""Class names (``data.label_names``): the config, labels.toml from `data get`, and every output that shows classes."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import _corpus
from test_serve import KEY, serve_process
from test_web_page import WAIT, browser  # noqa: F401 (browser is a fixture)
from tweetsent.cli.main import app
from tweetsent.config.resolve import resolve_config
from tweetsent.data import download
from tweetsent.data.labels import class_text, label_names_beside, read_label_names
from tweetsent.errors import ConfigError
from tweetsent.models.classifier import TweetClassifier
from tweetsent.runs.workflow import evaluate_run, predict_file, train_run
from tweetsent.util.files import sha256_file

runner = CliRunner()
NAMES = {"0": "neutral", "1": "anti-vax", "2": "pro-vax"}
FAST = ["--config", "seed-softmax", "--set", "train.epochs=1", "--set", "features.n_features=1024"]
FIXTURES = Path(__file__).parent / "fixtures" / "v0.1"


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    """The tiny corpus registered as the vaccine data set, fetched with `data get --from`, and one run
    trained on it with the CLI (so with the labels.toml that `data get` wrote)."""
    folder = tmp_path_factory.mktemp("named")
    copies, dest = folder / "copies", folder / "data"
    copies.mkdir()
    _corpus(10, seed=0).to_csv(copies / "vaccine_train_set.csv", index=True)
    _corpus(4, seed=1).to_csv(copies / "vaccine_validation_set.csv", index=True)
    entry = dict(download.DATASETS["vaccine"], files={p.name: sha256_file(p) for p in sorted(copies.iterdir())})
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(download.DATASETS, "vaccine", entry)
        got = runner.invoke(app, ["data", "get", "vaccine", "--dest", str(dest), "--from", str(copies)])
    assert got.exit_code == 0, got.output
    train, val = dest / "vaccine_train_set.csv", dest / "vaccine_validation_set.csv"
    trained = runner.invoke(app, ["train", "--train", str(train), "--val", str(val), "--out", str(folder / "run"),
                                  "--no-log", *FAST])
    assert trained.exit_code == 0, trained.output
    return {"dest": dest, "train": train, "val": val, "run": folder / "run", "get": got, "trained": trained,
            "folder": folder}


# -- the config ---------------------------------------------------------------------------------

def test_a_config_file_an_inline_table_and_one_entry_per_set(tmp_path):
    path = tmp_path / "named.toml"
    path.write_text('[data.label_names]\n0 = "neutral"\n1 = "anti-vax"\n', encoding="utf-8")
    assert resolve_config(str(path)).data.label_names == {"0": "neutral", "1": "anti-vax"}
    # --set one entry adds to the table; an inline table replaces it
    assert resolve_config(str(path), ["data.label_names.2=pro-vax"]).data.label_names == NAMES
    assert resolve_config(None, ['data.label_names={1 = "anti"}']).data.label_names == {"1": "anti"}
    # Python settings: an int key becomes text, as TOML keys are
    assert TweetClassifier(data__label_names={1: "anti"})._resolved().data.label_names == {"1": "anti"}
    assert resolve_config(None).data.label_names == {}


@pytest.mark.parametrize("override, message", [
    ('data.label_names.1=""', "data.label_names.1 = '': give the class a non-empty name"),
    ("data.label_names.1='  '", "data.label_names.1 = '  ': give the class a non-empty name"),
    ('data.label_names={0 = "same", 2 = "same"}', "data.label_names: 'same' names both label 0 and label 2"),
    ("data.label_names=neutral", "data.label_names: 'neutral' is not a table; give label value = name"),
    ("data.label_names.1=5", "data.label_names.1: 5 is not a valid str"),
    ("data.label_namez.1=x", "unknown key data.label_namez.1; keys of [data]: text_column, label_column, empty, "
                             "label_names"),
])
def test_bad_names_are_one_line_errors_naming_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        resolve_config("seed-softmax", [override])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_name_for_a_label_the_training_data_lacks_is_refused(corpus):
    train = pd.read_csv(corpus[0])
    clf = TweetClassifier("seed-softmax", train__epochs=1, features__n_features=1024,
                          data__label_names={"1": "anti-vax", "7": "other"})
    with pytest.raises(ConfigError, match=r"data.label_names names label '7', which the training data does not have "
                                          r"\(its labels: 0, 1, 2\)"):
        clf.fit(train.tweet.tolist(), train.label.to_numpy())


def test_labels_without_a_name_keep_their_value(corpus):
    train = pd.read_csv(corpus[0])
    clf = TweetClassifier("seed-softmax", train__epochs=1, features__n_features=1024,
                          data__label_names={"1": "anti-vax"}).fit(train.tweet.tolist(), train.label.to_numpy())
    assert clf.classes_ == [0, 1, 2] and clf.class_names_ == ["0", "anti-vax", "2"]
    assert [class_text(c, {"1": "anti-vax"}) for c in clf.classes_] == ["0", "1 (anti-vax)", "2"]


# -- data get and labels.toml -----------------------------------------------------------------

def test_data_get_writes_labels_toml_beside_the_files(named):
    labels = named["dest"] / "labels.toml"
    assert read_label_names(labels) == NAMES
    assert tomllib.loads(labels.read_text(encoding="utf-8"))["data"]["label_names"] == NAMES  # a config's table
    assert named["get"].stdout.splitlines()[-1] == str(labels)
    assert "class names: 0 = neutral, 1 = anti-vax, 2 = pro-vax" in named["get"].stderr
    assert not [p for p in named["dest"].iterdir() if p.name.startswith(".")]  # written atomically


def test_data_get_keeps_an_edited_labels_toml_and_adds_a_missing_one(named, tmp_path, monkeypatch):
    monkeypatch.delenv(download.MIRROR_ENV, raising=False)
    dest = tmp_path / "data"
    shutil.copytree(named["dest"], dest)
    copies = named["folder"] / "copies"
    monkeypatch.setitem(download.DATASETS, "vaccine", dict(
        download.DATASETS["vaccine"], files={p.name: sha256_file(p) for p in copies.iterdir()}))
    (dest / "labels.toml").write_text('[data.label_names]\n1 = "against"\n', encoding="utf-8")
    download.get_dataset("vaccine", dest, source=str(copies))
    assert read_label_names(dest / "labels.toml") == {"1": "against"}
    (dest / "labels.toml").unlink()
    download.get_dataset("vaccine", dest)  # the files are all there: nothing is fetched, labels.toml comes back
    assert read_label_names(dest / "labels.toml") == NAMES


def test_a_damaged_labels_toml_names_the_file(tmp_path):
    path = tmp_path / "labels.toml"
    path.write_text('[data.label_names]\n1 = ""\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"labels.toml: data.label_names.1 = '': give the class a non-empty name"):
        label_names_beside(tmp_path / "train.csv")
    path.write_text('[data]\nlabel_column = "label"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"labels.toml: no \[data.label_names\] table"):
        read_label_names(path)
    assert label_names_beside(tmp_path / "elsewhere" / "train.csv") is None


def test_training_beside_labels_toml_says_so_and_saves_the_names(named):
    run = named["run"]
    assert f"class names from {named['dest'] / 'labels.toml'}: 0 = neutral, 1 = anti-vax, 2 = pro-vax" \
        in named["trained"].stderr
    assert tomllib.loads((run / "config.toml").read_text(encoding="utf-8"))["data"]["label_names"] == NAMES
    assert json.loads((run / "model" / "model.json").read_text())["config"]["data"]["label_names"] == NAMES
    assert json.loads((run / "metrics.json").read_text())["label_names"] == NAMES


def test_the_config_wins_over_labels_toml_and_a_wrong_sidecar_is_named(named, tmp_path):
    cfg = resolve_config("seed-softmax", ["train.epochs=1", "features.n_features=1024", "data.label_names.1=against"])
    result = train_run(cfg, named["train"], named["val"], out=tmp_path / "own", figures=False)
    assert result.config.data.label_names == {"1": "against"}
    assert result.metrics["label_names"] == {"0": "0", "1": "against", "2": "2"}
    assert result.classifier.class_names_ == ["0", "against", "2"]

    folder = tmp_path / "wrong"
    shutil.copytree(named["dest"], folder)
    (folder / "labels.toml").write_text('[data.label_names]\n3 = "other"\n', encoding="utf-8")
    plain = resolve_config("seed-softmax", ["train.epochs=1", "features.n_features=1024"])
    with pytest.raises(ConfigError, match=r"wrong/labels.toml: data.label_names names label '3', which the "
                                          r"training data does not have"):
        train_run(plain, folder / "vaccine_train_set.csv", None, out=tmp_path / "never")
    assert not (tmp_path / "never").exists()


# -- the model --------------------------------------------------------------------------------

def test_the_names_go_with_the_model_and_old_models_have_none(named, tmp_path):
    clf = TweetClassifier.load(named["run"])
    assert clf.classes_ == [0, 1, 2] and clf.class_names_ == ["neutral", "anti-vax", "pro-vax"]
    again = TweetClassifier.load(clf.save(tmp_path / "copy"))
    assert again.class_names_ == clf.class_names_ and again.config_.data.label_names == NAMES
    old = TweetClassifier.load(FIXTURES / "old-run")  # written before data.label_names existed
    assert old.config_.data.label_names == {} and old.class_names_ == [str(c) for c in old.classes_]


def test_an_ensemble_takes_its_first_members_names(named, tmp_path):
    cfg = resolve_config("seed-softmax", ["train.epochs=1", "features.n_features=1024", "train.seed=1",
                                          "data.label_names.1=against"])
    other = train_run(cfg, named["train"], named["val"], out=tmp_path / "other", figures=False).run_dir
    ens = TweetClassifier.from_runs([named["run"], other])
    assert ens.class_names_ == ["neutral", "anti-vax", "pro-vax"]
    assert TweetClassifier.from_runs([other, named["run"]]).class_names_ == ["0", "against", "2"]


# -- every output ------------------------------------------------------------------------------

def test_the_cli_tables_show_the_names(named):
    shown = runner.invoke(app, ["evaluate", str(named["run"]), "--data", str(named["val"]), "--no-log"])
    assert shown.exit_code == 0, shown.output
    for text in ("0 (neutral)", "1 (anti-vax)", "2 (pro-vax)"):
        assert text in shown.stdout
    assert "anti-vax" in named["trained"].stdout  # the table printed after training


def test_data_inspect_names_the_classes_of_a_table(named):
    shown = runner.invoke(app, ["data", "inspect", str(named["val"]), "--config", "seed-softmax"])
    assert shown.exit_code == 0, shown.output
    assert "classes: 0 (neutral): 4 (33.3%), 1 (anti-vax): 4 (33.3%), 2 (pro-vax): 4 (33.3%)" in shown.stdout
    own = runner.invoke(app, ["data", "inspect", str(named["val"]), "--config", "seed-softmax",
                              "--set", "data.label_names.2=pro"])
    assert "classes: 0: 4 (33.3%), 1: 4 (33.3%), 2 (pro): 4 (33.3%)" in own.stdout  # the config wins


def test_runs_show_names_the_classes(named, tmp_path):
    runs_dir = tmp_path / "runs"
    evaluated = runner.invoke(app, ["evaluate", str(named["run"]), "--data", str(named["val"]), "--json",
                                    "--runs-dir", str(runs_dir)])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["label_names"] == NAMES
    listed = json.loads(runner.invoke(app, ["runs", "list", "--json", "--runs-dir", str(runs_dir)]).stdout)
    shown = runner.invoke(app, ["runs", "show", listed[0]["id"], "--runs-dir", str(runs_dir)])
    assert shown.exit_code == 0, shown.output
    assert "1 (anti-vax)" in shown.stdout


def test_prediction_files_add_a_name_column_and_keep_the_values(named, tmp_path):
    frame = pd.read_csv(named["run"] / "predictions.csv")
    assert list(frame.columns) == ["text", "label", "predicted", "predicted_name", "p_0", "p_1", "p_2"]
    assert (frame["predicted_name"] == frame["predicted"].astype(str).map(NAMES)).all()
    # the file reads back as labelled data: the values, not the names, are its labels
    again = evaluate_run(named["run"], named["run"] / "predictions.csv", predictions_out=tmp_path / "again.csv")
    assert again["n"] == len(frame) and again["label_names"] == NAMES

    out = tmp_path / "labelled.csv"
    tweets = tmp_path / "tweets.csv"
    pd.DataFrame({"tweet": ["poison autism toxic", "  ", "safe science lives"]}).to_csv(tweets, index=False)
    assert predict_file(named["run"], tweets, out) == 3
    rows = pd.read_csv(out)
    assert list(rows.columns) == ["text", "label", "label_name", "p_0", "p_1", "p_2", "empty"]
    assert rows["label_name"].isna().tolist() == [False, True, False]  # an empty tweet gets no label, nor name
    assert rows.loc[[0, 2], "label_name"].tolist() == [NAMES[str(int(v))] for v in rows.loc[[0, 2], "label"]]


def test_explain_json_and_text_name_the_label(named):
    got = runner.invoke(app, ["explain", str(named["run"]), "vaccines are poison and toxic", "--json"])
    assert got.exit_code == 0, got.output
    item = json.loads(got.stdout)[0]
    assert item["label_name"] == NAMES[str(item["label"])]
    assert set(item["proba"]) == {"0", "1", "2"}  # keys stay the values
    text = runner.invoke(app, ["explain", str(named["run"]), "vaccines are poison and toxic"])
    assert text.exit_code == 0, text.output
    assert f"{item['label_name']} ({item['label']})" in text.stdout and "p(anti-vax) = " in text.stdout


def test_compare_and_the_report_name_the_classes(named, tmp_path):
    from tweetsent.evaluation.compare import compare_runs
    from tweetsent.reporting.report import write_report

    result = compare_runs([named["run"]])
    assert result["label_names"] == NAMES
    assert "f1 class 1 (anti-vax)" in [row["label"] for row in result["table"]]
    page = write_report([named["run"]], tmp_path / "report.html", n_resamples=20, highlight=False).read_text()
    assert "classes 0 (neutral), 1 (anti-vax), 2 (pro-vax)." in page
    assert '<td class="l">2 (pro-vax)</td>' in page  # the per-class table
    md = write_report([named["run"]], tmp_path / "report.md", format="md", n_resamples=20, highlight=False)
    assert "classes 0 (neutral), 1 (anti-vax), 2 (pro-vax)." in md.read_text()


def test_figures_name_the_classes(named):
    import matplotlib.pyplot as plt

    from tweetsent.reporting.plots import confusion_figure, roc_curves

    metrics = json.loads((named["run"] / "metrics.json").read_text())
    fig = confusion_figure(metrics["confusion_matrix"], metrics["labels"], names=metrics["label_names"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0 (neutral)", "1 (anti-vax)", "2 (pro-vax)"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0 (neutral)", "1 (anti-vax)", "2 (pro-vax)"]
    plt.close(fig)
    frame = pd.read_csv(named["run"] / "predictions.csv")
    fig = roc_curves(frame["label"].to_numpy(), frame[["p_0", "p_1", "p_2"]].to_numpy(), [0, 1, 2], NAMES)
    assert [ax.get_title() for ax in fig.axes] == ["class 0 (neutral)", "class 1 (anti-vax)", "class 2 (pro-vax)"]
    plt.close(fig)
    plain = confusion_figure(metrics["confusion_matrix"], metrics["labels"])
    assert [t.get_text() for t in plain.axes[0].get_xticklabels()] == ["0", "1", "2"]
    plt.close(plain)


def test_serve_answers_name_the_label(named):
    from tweetsent.serve.app import create_app

    client = TestClient(create_app(named["run"]))
    rows = client.post("/predict", json={"tweets": ["poison autism toxic", " "]}).json()["predictions"]
    assert rows[0]["label_name"] == NAMES[str(rows[0]["label"])] and set(rows[0]["proba"]) == {"0", "1", "2"}
    assert rows[1] == {"label": None, "proba": None, "empty": True}
    info = client.get("/model").json()
    assert info["classes"] == [0, 1, 2] and info["class_names"] == ["neutral", "anti-vax", "pro-vax"]
    explained = client.post("/explain", json={"tweet": "safe science lives"}).json()["explanations"][0]
    assert explained["label_name"] == NAMES[str(explained["label"])]
    assert "class_names" in client.get("/").text  # the page names the classes from /model


@pytest.mark.browser
def test_the_web_page_shows_the_name_with_the_value(named, browser, tmp_path):  # noqa: F811 (imported fixture)
    import httpx
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    tweet = "poison autism toxic lies"
    with serve_process(named["run"], tmp_path) as running:
        expected = httpx.post(f"{running['url']}/predict", json={"tweet": tweet}, headers={"X-API-Key": KEY},
                              timeout=60).json()["predictions"][0]
        browser.get(f"{running['url']}/")
        wait = WebDriverWait(browser, WAIT)
        wait.until(ec.visibility_of_element_located((By.ID, "key"))).send_keys(KEY)
        browser.find_element(By.ID, "tweets").send_keys(tweet)
        browser.find_element(By.ID, "submit").click()
        card = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#results .result")))
        assert card.find_element(By.CLASS_NAME, "label").text == \
            f"Label: {expected['label_name']} ({expected['label']})"
        assert card.find_element(By.CLASS_NAME, "label-value").text == str(expected["label"])
        assert [r.find_element(By.CLASS_NAME, "bar-name").text for r in card.find_elements(By.CLASS_NAME, "bar-row")] \
            == ["neutral (0)", "anti-vax (1)", "pro-vax (2)"]


# -- string labels -----------------------------------------------------------------------------

def test_files_with_string_labels_keep_their_strings(tmp_path):
    words = {0: "neutral", 1: "anti", 2: "pro"}
    train, val = tmp_path / "train.csv", tmp_path / "val.csv"
    for frame, path in ((_corpus(10, seed=0), train), (_corpus(4, seed=1), val)):
        frame.assign(label=frame["label"].map(words)).to_csv(path, index=False)
    cfg = resolve_config("seed-softmax", ["train.epochs=1", "features.n_features=1024"])
    result = train_run(cfg, train, val, out=tmp_path / "run", figures=False)
    clf = result.classifier
    assert clf.classes_ == ["anti", "neutral", "pro"] and clf.class_names_ == clf.classes_
    assert "label_names" not in result.metrics and set(result.metrics["per_class"]) == {"anti", "neutral", "pro"}
    assert list(pd.read_csv(result.run_dir / "predictions.csv").columns) == [
        "text", "label", "predicted", "p_anti", "p_neutral", "p_pro"]
    named = train_run(resolve_config("seed-softmax", ["train.epochs=1", "features.n_features=1024",
                                                      "data.label_names.anti=anti-vax"]),
                      train, val, out=tmp_path / "named", figures=False)
    assert named.classifier.class_names_ == ["anti-vax", "neutral", "pro"]
    assert named.metrics["label_names"] == {"anti": "anti-vax", "neutral": "neutral", "pro": "pro"}

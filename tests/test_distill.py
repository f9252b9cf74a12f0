"""Knowledge distillation: a network or softmax model learning a teacher's probabilities besides the labels."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tweetsent.cli.main import app
from tweetsent.config.resolve import resolve_config
from tweetsent.errors import ConfigError, ModelError
from tweetsent.models.classifier import TweetClassifier
from tweetsent.runs.workflow import train_run

runner = CliRunner()
SOFT = ["features.input=ngrams", "model.kind=softmax", "train.epochs=20", "train.batch_size=8", "train.lr=0.01"]


def _frames(corpus):
    train, val = pd.read_csv(corpus[0]), pd.read_csv(corpus[1])
    return train.tweet.tolist(), train.label.to_numpy(), val.tweet.tolist(), val.label.to_numpy()


class Fixed:
    """A stand-in teacher: the same probabilities for every tweet."""

    classes_ = [0, 1, 2]

    def __init__(self, proba):
        self.proba = np.asarray(proba, np.float32)

    def predict_proba(self, texts):
        return np.tile(self.proba, (len(texts), 1))


def test_alpha_one_is_plain_training(corpus):
    texts, labels, val, _ = _frames(corpus)
    plain = TweetClassifier(resolve_config(None, SOFT)).fit(texts, labels)
    taught = TweetClassifier(resolve_config(None, [*SOFT, "distill.alpha=1.0"])).fit(texts, labels,
                                                                                    teacher=Fixed([1, 0, 0]))
    np.testing.assert_allclose(taught.predict_proba(val), plain.predict_proba(val), atol=1e-5)


def test_alpha_zero_learns_the_teachers_probabilities(corpus):
    texts, labels, val, _ = _frames(corpus)
    cfg = resolve_config(None, [*SOFT, "distill.alpha=0.0", "train.epochs=200", "features.word_ngrams=[1, 1]"])
    student = TweetClassifier(cfg).fit(texts, labels, teacher=Fixed([0.2, 0.3, 0.5]))
    np.testing.assert_allclose(student.predict_proba(texts).mean(axis=0), [0.2, 0.3, 0.5], atol=0.03)
    assert student.metadata()["distill"] == {"teacher": "Fixed", "alpha": 0.0}


def test_a_preset_teacher_trains_first_and_a_run_dir_teacher_is_loaded(corpus, glove_file, tmp_path):
    from tweetsent.training.loop import Callback

    (tmp_path / "teacher.toml").write_text(
        f'[features]\nembeddings = "{glove_file}"\n[model]\nhidden = [16, 8]\n'
        '[train]\nepochs = 5\nbatch_size = 8\nlr = 0.01\ncalibration = "temperature"\nholdout = 0.3\n', encoding="utf-8")
    (tmp_path / "student.toml").write_text(
        '[features]\ninput = "ngrams"\n[model]\nkind = "softmax"\n[train]\nepochs = 4\nbatch_size = 8\nlr = 0.01\n'
        'calibration = "temperature"\nholdout = 0.3\n[distill]\nteacher = "teacher.toml"\nalpha = 0.5\n',
        encoding="utf-8")

    class Seen(Callback):
        records: list = []

        def on_epoch_end(self, record, model):
            self.records.append(record)

    cfg = resolve_config(str(tmp_path / "student.toml"), seed=3)
    assert cfg.distill.teacher == str(tmp_path / "teacher.toml")  # found beside the student's file
    result = train_run(cfg, *corpus, out=tmp_path / "run", figures=False, callbacks=[Seen()])
    assert [(r["member"], r["epoch"]) for r in Seen.records] == [("teacher", e) for e in range(1, 6)] + \
        [("student", e) for e in range(6, 10)]
    meta = json.loads((result.run_dir / "model" / "model.json").read_text())
    assert meta["distill"] == {"teacher": str(tmp_path / "teacher.toml"), "alpha": 0.5}
    assert len(json.loads((result.run_dir / "history.json").read_text())) == 4  # the run's history is the student's

    # the same teacher, trained on its own: the student's numbers come back exactly from a run-directory teacher
    texts, labels, val, _ = _frames(corpus)
    teacher_cfg = resolve_config(str(tmp_path / "teacher.toml"), seed=3)
    train_run(teacher_cfg, *corpus, out=tmp_path / "teacher-run", figures=False)
    from_dir = TweetClassifier(resolve_config(str(tmp_path / "student.toml"),
                                              [f"distill.teacher={json.dumps(str(tmp_path / 'teacher-run'))}"],
                                              seed=3)).fit(texts, labels)
    np.testing.assert_allclose(from_dir.predict_proba(val), TweetClassifier.load(result.run_dir).predict_proba(val),
                               atol=1e-5)


@pytest.mark.parametrize("overrides, message", [
    (["model.kind=finetune", "distill.teacher=seed-softmax"], "distill.teacher applies to model.kind"),
    (["train.loss=multi_margin", "distill.teacher=seed-softmax"], "needs train.loss = 'cross_entropy'"),
    (["distill.alpha=1.5"], "distill.alpha = 1.5"),
])
def test_config_errors_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config(None, overrides)


def test_a_teacher_with_other_classes_or_no_model_is_refused(corpus, tmp_path):
    texts, labels, _, _ = _frames(corpus)
    other = Fixed([0.5, 0.5])
    other.classes_ = ["neg", "pos"]
    with pytest.raises(ModelError, match=r"predicts classes \['neg', 'pos'\] but the training tweets have \[0, 1, 2\]"):
        TweetClassifier(resolve_config(None, SOFT)).fit(texts, labels, teacher=other)
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["train", "--train", str(corpus[0]), "--no-log", "--out", str(tmp_path / "run"),
                                 *[a for s in SOFT for a in ("--set", s)], "--set",
                                 f"distill.teacher={json.dumps(str(tmp_path / 'empty'))}"])
    assert result.exit_code == 2 and "no model.json here" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()
    result = runner.invoke(app, ["train", "--train", str(corpus[0]), "--no-log", "--out", str(tmp_path / "run"),
                                 "--set", "distill.teacher=no-such-preset"])
    assert result.exit_code == 2 and "distill.teacher: unknown preset 'no-such-preset'" in result.output
    result = runner.invoke(app, ["train", "--train", str(corpus[0]), "--no-log", "--out", str(tmp_path / "run"),
                                 "--set", "distill.teacher=runs/gone"])
    assert result.exit_code == 2 and "distill.teacher = 'runs/gone': no such run directory" in result.output


def test_a_teacher_from_python_is_refused_for_a_student_that_cannot_learn_probabilities(corpus):
    texts, labels, _, _ = _frames(corpus)
    with pytest.raises(ConfigError, match="needs train.loss = 'cross_entropy'"):
        TweetClassifier(resolve_config(None, [*SOFT, "train.loss=multi_margin"])).fit(texts, labels,
                                                                                      teacher=Fixed([1, 0, 0]))

"""Shared fixtures: a 30-tweet corpus and a 40-word 6-dimensional GloVe file, made per test.

The corpus is built so that a model can learn it: each class has its own words, and the
GloVe vectors of those words point in the class's own directions.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
VACCINE = Path(os.environ.get("TWEETSENT_VACCINE_DIR", REPO.parent / "shared" / "data" / "vaccine"))

CLASS_WORDS = {
    0: ["news", "report", "study", "published", "today", "says", "official", "data"],
    1: ["poison", "autism", "toxic", "refuse", "danger", "never", "injury", "lies"],
    2: ["safe", "protect", "save", "lives", "effective", "thank", "science", "immunity"],
}
COMMON = ["the", "vaccine", "vaccines", "a", "is", "are", "my", "kids", "flu", "shot", "#", "@", "url", ",",
          ".", "!", '"', "null", "nan", "'s", "n't", "do", "get", "to"]


def _corpus(n_per_class: int = 10, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for label, words in CLASS_WORDS.items():
        for _ in range(n_per_class):
            picked = list(rng.choice(words, size=3, replace=False)) + list(rng.choice(COMMON[:12], size=2))
            rng.shuffle(picked)
            rows.append({"tweet": " ".join(picked).capitalize() + " #Vaccine @someone http://t.co/x", "label": label})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.fixture
def corpus_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _corpus(10, seed=0), _corpus(4, seed=1)


@pytest.fixture
def corpus(tmp_path, corpus_frames) -> tuple[Path, Path]:
    """(train.csv, val.csv): 30 and 12 labelled tweets in the vaccine file's layout."""
    train, val = corpus_frames
    paths = tmp_path / "train.csv", tmp_path / "val.csv"
    for frame, path in zip((train, val), paths):
        frame.to_csv(path, index=True)  # an unnamed index column, as in the vaccine files
    return paths


@pytest.fixture
def glove_file(tmp_path, monkeypatch) -> Path:
    """A 40-word, 6-dimensional GloVe text file; the class words lean towards their class's axes."""
    monkeypatch.setenv("TWEETSENT_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(42)
    lines = []
    for label, words in CLASS_WORDS.items():
        for word in words:
            vec = rng.normal(0, 0.3, 6)
            vec[2 * label] += 2.0
            vec[2 * label + 1] += 1.0
            lines.append(word + " " + " ".join(f"{v:.5f}" for v in vec))
    for word in COMMON[:16]:
        lines.append(word + " " + " ".join(f"{v:.5f}" for v in rng.normal(0, 0.3, 6)))
    path = tmp_path / "tiny.6d.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def tiny_overrides(glove_file) -> list[str]:
    """Settings that make a network train on the tiny corpus in well under a second."""
    return [f"features.embeddings={glove_file}", "model.hidden=[16, 8]", "model.dropout=0.0",
            "train.epochs=30", "train.batch_size=8", "train.lr=0.01"]


def vaccine_files() -> tuple[Path, Path]:
    """The shared vaccine data; skipped locally when absent, a failure in CI."""
    train, val = VACCINE / "vaccine_train_set.csv", VACCINE / "vaccine_validation_set.csv"
    if not (train.exists() and val.exists()):
        message = f"the vaccine dataset is not at {VACCINE} (set TWEETSENT_VACCINE_DIR)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return train, val


@pytest.fixture(autouse=True)
def _isolated_log(tmp_path, monkeypatch):
    """Every test logs runs into its own folder, never into the checkout's runs/."""
    monkeypatch.setenv("TWEETSENT_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("TWEETSENT_LOG_URL", raising=False)


def tiny_runs(folder: Path, seeds=(0,)) -> dict:
    """The tiny corpus as train.csv / val.csv in ``folder`` and a one-epoch softmax run per seed
    (``run0``, ``run1``, ...): for modules that need trained runs but not their training."""
    from tweetsent.config.resolve import resolve_config
    from tweetsent.runs.workflow import train_run

    train, val = folder / "train.csv", folder / "val.csv"
    _corpus(10, seed=0).to_csv(train, index=True)
    _corpus(4, seed=1).to_csv(val, index=True)
    runs = [train_run(resolve_config("seed-softmax", ["train.epochs=1", "features.n_features=1024"], seed), train, val,
                      out=folder / f"run{seed}", figures=False).run_dir for seed in seeds]
    return {"train": train, "val": val, "runs": runs}

"""Layered configuration: defaults -> preset/TOML -> --set, with errors that name the key."""

import pytest

from tweetsent.config.resolve import config_from_dict, preset_names, resolve_config
from tweetsent.errors import ConfigError


def test_presets_ship_with_the_studys_settings():
    assert {"seed-prelu", "seed-tanh"} <= set(preset_names())
    prelu = resolve_config("seed-prelu")
    assert prelu.model.hidden == [125, 125, 75, 30] and prelu.model.activation == "prelu"
    assert (prelu.train.optimizer, prelu.train.lr, prelu.train.batch_size, prelu.train.epochs) == ("radam", 2e-4, 450, 50)
    assert prelu.model.dropout[0] == 0.3 and prelu.model.dropout == sorted(prelu.model.dropout, reverse=True)
    tanh = resolve_config("seed-tanh")
    assert tanh.model.hidden == [256, 128, 64, 32] and tanh.model.activation == "tanh"
    assert (tanh.train.optimizer, tanh.train.lr, tanh.train.batch_size) == ("adam", 9e-4, 400)


def test_every_shipped_preset_resolves_and_says_what_it_is():
    from tweetsent.config.resolve import member_configs, preset_summary

    for name in preset_names():
        cfg = resolve_config(name, seed=3)
        assert cfg.name == name and len(preset_summary(name)) > 20, name
    best = resolve_config("best", seed=3)
    assert best.model.kind == "ensemble"
    members = member_configs(best)
    assert [m.name for m in members] == ["minilm-finetune", "tfidf-softmax"]
    assert [m.model.kind for m in members] == ["finetune", "softmax"] and {m.train.seed for m in members} == {3}
    assert members[0].train.time_budget == 0 and members[0].finetune.epochs == 3  # a fixed schedule on any machine
    assert members[0].finetune.precision == "auto"


def test_overrides_are_toml_values_and_seed_shorthand():
    cfg = resolve_config("seed-prelu", ["train.lr=1e-3", "model.hidden=[64, 32]", "model.dropout=0.1",
                                        "train.optimizer=sgd", "model.batch_norm=true"], seed=7)
    assert cfg.train.lr == 1e-3 and cfg.model.hidden == [64, 32] and cfg.model.dropout == 0.1
    assert cfg.train.optimizer == "sgd" and cfg.model.batch_norm is True and cfg.train.seed == 7


def test_toml_file_and_round_trip(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[model]\nhidden = [10]\nactivation = ["celu"]\n[train]\nloss = "nll"\n')
    cfg = resolve_config(str(path))
    assert cfg.name == "mine" and cfg.model.activation == ["celu"] and cfg.train.loss == "nll"
    assert config_from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("override, message", [
    ("train.foo=1", "unknown key train.foo; keys of [train]: loss, optimizer"),
    ("trian.lr=1", "unknown section 'trian'; sections: data, features, model, train"),
    ("train.lr=fast", "train.lr: 'fast' is not a valid float"),
    ("train.loss=mse", "does not fit classification: it regresses numbers"),
    ("train.loss=bce", "multi-label"),
    ("train.loss=hinge", "train.loss = 'hinge' is not one of: cross_entropy, nll, multi_margin"),
    ("train.optimizer=lbfgs", "is not one of: sgd, adam, adamw, adamax, rmsprop, radam, nadam, adagrad, adadelta"),
    ("model.activation=gelu", "is not one of: relu, sigmoid, logsigmoid, tanh, prelu, celu, selu"),
    ("model.dropout=[0.1]", "model.dropout has 1 entries but model.hidden has 4 layers"),
    ("model.dropout=1.5", "rates must be in [0, 1)"),
    ("train.class_weight=heavy", "train.class_weight = 'heavy' is not one of: none, balanced"),
    ("lr=1", "write section.key=value"),
])
def test_bad_settings_fail_by_name(override, message):
    with pytest.raises(ConfigError) as err:
        resolve_config("seed-tanh", [override])
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ConfigError, match="unknown preset 'seed-gelu'; presets: .*seed-prelu"):
        resolve_config("seed-gelu")


@pytest.mark.parametrize("override, words", [
    ("train.lr=nan", "train.lr: nan is not a finite number"),
    ("train.lr=inf", "train.lr: inf is not a finite number"),
    ("train.momentum=-inf", "train.momentum: -inf is not a finite number"),
    ("train.threads=-3", "train.threads = -3"),
    ("train.seed=-5", "train.seed = -5: give a whole number from 0 to 4294967295"),
    ("train.seed=99999999999999999999", "train.seed = 99999999999999999999"),
    ("data.empty='skip'", "data.empty = 'skip' is not one of: error, drop"),
])
def test_settings_that_cannot_train_are_refused_up_front(override, words):
    with pytest.raises(ConfigError) as err:
        resolve_config("seed-softmax", [override])
    assert words in str(err.value)


def test_a_huge_or_negative_seed_flag_is_one_error():
    for seed in (-5, 99999999999999999999999):
        with pytest.raises(ConfigError, match="train.seed"):
            resolve_config("seed-softmax", seed=seed)

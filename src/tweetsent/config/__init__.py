"""Settings: the dataclasses of a run's configuration, the shipped presets, and how a config is resolved
(defaults -> preset or TOML file -> ``--set section.key=value``).

    from tweetsent.config.resolve import resolve_config
    cfg = resolve_config("seed-prelu", ["train.lr=1e-3"], seed=1)
"""

__all__: list[str] = []

"""Hyperparameter search with Optuna: search spaces, trials scored on a split of the training file,
workers on many machines, and the study's report.

    from tweetsent.tune.study import TuneOptions, run_tune
"""

__all__: list[str] = []

"""Run directories: train, evaluate and predict as the command line does them, and the workflows built
on them (learning curves, the study's protocol, ensembles of runs).

    from tweetsent.runs.workflow import train_run
"""

__all__: list[str] = []

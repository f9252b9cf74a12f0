"""The training loop and its callbacks (early stopping, time budget, progress display).

    from tweetsent.training.loop import train_network, EarlyStopping
"""

__all__: list[str] = []

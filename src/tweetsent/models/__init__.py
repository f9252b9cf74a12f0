"""The estimator and the model kinds behind it: one module per ``model.kind``, registered by name, plus
calibration and distillation.

    from tweetsent.models.classifier import TweetClassifier
"""

__all__: list[str] = []

"""Scores and judgements computed once and rendered many times: metrics, paired significance tests,
the overfitting verdict and the side-by-side comparison of run directories.

    from tweetsent.evaluation.metrics import compute_metrics
"""

__all__: list[str] = []

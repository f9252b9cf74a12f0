"""The experiment log: every run's config, epochs and scores in SQLite or PostgreSQL, queried and exported.

    from tweetsent.runlog.log import RunLog
"""

__all__: list[str] = []

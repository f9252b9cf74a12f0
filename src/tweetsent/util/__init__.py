"""Small helpers every layer may use: atomic file writing, the cache folder, the stderr console, package
metadata, database URLs and ``section.key=value`` settings.

Nothing here imports the rest of tweetsent but `tweetsent.errors`.
"""

__all__: list[str] = []

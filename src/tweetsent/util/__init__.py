"""Small helpers every layer may use: atomic file writing, the cache folder, the stderr console.

Nothing here imports the rest of tweetsent.
"""

__all__: list[str] = []

"""``python -m tweetsent`` is the ``tweetsent`` command."""

__all__: list[str] = []

from tweetsent.cli import main

main()

"""What people would rather see than read: matplotlib figures and HTML / Markdown reports.

    from tweetsent.reporting.report import write_report
"""

__all__: list[str] = []

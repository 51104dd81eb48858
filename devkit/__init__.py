"""Tools for developing and testing adops: a loopback Slack and the vendor sandbox server.

Installed with the project because `adops console` runs on them; no product module needs them.
"""

"""Talking to the internet safely: the SSRF URL policy, fetching under it, Standard
Webhooks signatures, credentials and their scopes, callback delivery.
"""

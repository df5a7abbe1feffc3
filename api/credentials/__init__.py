"""The credential core: what a credential is and how it is checked, with no request and no view.

Token format and signing keys, password hashing and rules, one-time codes, the secret box for
secrets at rest, scopes and failed-attempt counters. Modules here take plain values; none
imports ``api.http``, ``api.security``, a blueprint or a service (``tests/test_layering.py``).
"""

"""Routes the tests send requests to."""

# Every route behind login_required, with a path that matches it.
PROTECTED = [
    ("GET", "/me"),
    ("GET", "/notes"),
    ("POST", "/notes"),
    ("GET", "/notes/1"),
    ("PATCH", "/notes/1"),
    ("DELETE", "/notes/1"),
    ("POST", "/logout"),
    ("GET", "/sessions"),
    ("DELETE", "/sessions"),
    ("DELETE", "/sessions/abc"),
    ("POST", "/password"),
    ("GET", "/users"),
    ("POST", "/users"),
    ("PATCH", "/users/1"),
    ("DELETE", "/users/1"),
]

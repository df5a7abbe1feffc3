"""Argon2id at its cheapest: tests check behaviour, the benchmark measures the real cost."""

CHEAP_HASHING = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "ARGON2_PARALLELISM": 1}
# The same settings as environment variables, for servers and commands in other processes.
CHEAP_HASHING_ENV = {name: str(value) for name, value in CHEAP_HASHING.items()}


class CountingHasher:
    """Wrap an argon2 ``PasswordHasher`` and count what it is asked to do."""

    def __init__(self, hasher) -> None:
        self.hasher = hasher
        self.verifications = 0
        self.hashes = 0
        self.verified: list[str] = []

    def verify(self, password_hash, password):
        self.verifications += 1
        self.verified.append(password_hash)
        return self.hasher.verify(password_hash, password)

    def hash(self, password, **kwargs):
        self.hashes += 1
        return self.hasher.hash(password, **kwargs)

    def __getattr__(self, name):
        return getattr(self.hasher, name)

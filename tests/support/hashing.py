"""Argon2id at its cheapest: tests check behaviour, the benchmark measures the real cost."""

CHEAP_HASHING = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "ARGON2_PARALLELISM": 1}
# The same settings as environment variables, for servers and commands in other processes.
CHEAP_HASHING_ENV = {name: str(value) for name, value in CHEAP_HASHING.items()}

"""The use cases HTTP and CLI share. They take plain values, commit once, raise ServiceError."""

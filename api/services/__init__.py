"""The use cases HTTP and CLI share. They take plain values (ids, and the ``Origin`` of who
asks), commit once, raise ServiceError."""

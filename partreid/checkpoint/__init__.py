from .checkpointer import ReidCheckpointer, atomic_write_bytes

__all__ = ["ReidCheckpointer", "atomic_write_bytes"]

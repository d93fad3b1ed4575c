"""PartMix project (placeholder package, filled by the project)."""

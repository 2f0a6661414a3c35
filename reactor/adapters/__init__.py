"""adapters layer (see design.md)."""

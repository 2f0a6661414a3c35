"""engine layer (see design.md)."""

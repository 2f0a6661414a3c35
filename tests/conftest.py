"""Shared pytest fixtures. Component fixtures live beside the tests that own them."""

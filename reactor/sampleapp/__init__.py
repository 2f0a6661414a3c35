"""The sample application used by the demo and the end-to-end tests."""

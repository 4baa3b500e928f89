"""Test helpers shared across test modules: import them from here, never from a conftest."""

"""Unit tests of kubelite.client against a fake API server (fakeapi.py)."""

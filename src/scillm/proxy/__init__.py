"""Placeholder: the litellm-config-compatible proxy (issue 14)."""

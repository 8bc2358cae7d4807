"""smartsupport: a self-hostable AI customer-support assistant."""

__version__ = "0.1.0"

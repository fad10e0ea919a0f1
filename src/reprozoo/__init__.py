"""reprozoo: reproduce computer-vision papers as tracked, verifiable pipelines."""

__version__ = "0.1.0"

"""User-facing errors: the CLI prints their message as one line and exits non-zero."""


class ReprozooError(Exception):
    """A mistake in the user's input, data or configuration (not a bug).

    The message must name the file or field at fault and the cause, on one line.
    """


class DataValidationError(ReprozooError):
    """A dataset failed validation (corrupt image, missing field, keypoint outside the frame, ...)."""


class DownloadError(ReprozooError):
    """A dataset download failed: unreachable URL, checksum mismatch, or an unsafe archive."""

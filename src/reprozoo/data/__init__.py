"""Dataset acquisition and validation for the ``fetch`` and ``preprocess`` stages.

Modules (import the one you need; this package imports nothing heavy itself):

- :mod:`reprozoo.data.checksums` -- streaming sha256 of a file and verification
  against an expected digest.
- :mod:`reprozoo.data.download` -- resumable, retrying download of an
  ``http(s)://`` or ``s3://bucket/key`` URL into a local file, verified before it
  is put in place; plus :func:`~reprozoo.data.download.fetch_archive`, which
  downloads into a cache directory and extracts.
- :mod:`reprozoo.data.archives` -- safe extraction of ``.tar``, ``.tar.gz``/``.tgz``,
  ``.tar.bz2``, ``.tar.xz`` and ``.zip`` archives (no path traversal, no escaping
  links, no device files; all-or-nothing).
- :mod:`reprozoo.data.validation` -- runs a paper's great-expectations suite on a
  manifest and writes its Data Docs.

Every failure the user can fix is raised as :class:`reprozoo.errors.DownloadError`
with a one-line message naming the URL or file and the cause.
"""

"""The ``kworkflow`` command line (entry point: :func:`cli.main.main`)."""

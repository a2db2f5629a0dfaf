"""The exception for a user's mistake (a bad option, path, checkpoint or data file), wherever it is found."""


class UsageError(ValueError):
    """A user error: ``omarc`` prints its message as one line, ``omarc: error: ...``, and exits with status 2.

    omarc code raises it where it finds what the user got wrong (while parsing, building the model or
    data, in setup or on the first batch); ``--debug`` shows its traceback. A ValueError, so that code
    catching bad values catches it too. Programming errors are other exceptions and keep their traceback.
    """

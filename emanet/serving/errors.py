"""What the service answers to a request it cannot serve."""


class RequestError(Exception):
    """A bad request: the service answers ``status`` with one JSON line
    ``{"error": message}`` and keeps serving.

    Args:
        status (int): the HTTP status (4xx).
        message (str): one line saying what is wrong and what to send.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = ' '.join(message.split())  # always one line


def error_body(message: str) -> dict:
    """The JSON body of an error answer (one line once serialised)."""
    return {'error': ' '.join(str(message).split())}

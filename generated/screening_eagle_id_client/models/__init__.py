"""Contains all the data models used in inputs/outputs"""

from .error_response import ErrorResponse
from .grant_type import GrantType
from .token_request import TokenRequest
from .token_response import TokenResponse

__all__ = (
    "ErrorResponse",
    "GrantType",
    "TokenRequest",
    "TokenResponse",
)

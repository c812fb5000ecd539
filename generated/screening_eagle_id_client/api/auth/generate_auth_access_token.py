from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.token_request import TokenRequest
from ...models.token_response import TokenResponse
from ...types import Response


def _get_kwargs(
    *,
    body: TokenRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/id/v1/auth/token",
    }

    _kwargs["data"] = body.to_dict()
    headers["Content-Type"] = "application/x-www-form-urlencoded"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | TokenResponse | None:
    if response.status_code == 200:
        response_200 = TokenResponse.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = ErrorResponse.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorResponse.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorResponse.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = ErrorResponse.from_dict(response.json())

        return response_404

    if response.status_code == 500:
        response_500 = ErrorResponse.from_dict(response.json())

        return response_500

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorResponse | TokenResponse]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: TokenRequest,
) -> Response[ErrorResponse | TokenResponse]:
    """Generate Auth Access Token

     This API endpoint allows clients to obtain OAuth 2.0 access tokens using the
    client_credentials grant type. The client must provide its client ID and client
    secret in the Authorization header, using the Basic authentication scheme. The
    generated access token can then be used to authenticate and access protected
    resources within the system.

    The request body must include the grant_type as client_credentials, and a scope
    parameter that defines the permissions being requested. The API will return an
    access token, along with optional tokens such as an ID token or a refresh token if
    supported.

    This endpoint is used for machine-to-machine authentication, where no user
    interaction is required. The tokens generated can be used to access APIs securely,
    ensuring that the client is authorized for the requested scopes.

    Args:
        body (TokenRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | TokenResponse]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: TokenRequest,
) -> ErrorResponse | TokenResponse | None:
    """Generate Auth Access Token

     This API endpoint allows clients to obtain OAuth 2.0 access tokens using the
    client_credentials grant type. The client must provide its client ID and client
    secret in the Authorization header, using the Basic authentication scheme. The
    generated access token can then be used to authenticate and access protected
    resources within the system.

    The request body must include the grant_type as client_credentials, and a scope
    parameter that defines the permissions being requested. The API will return an
    access token, along with optional tokens such as an ID token or a refresh token if
    supported.

    This endpoint is used for machine-to-machine authentication, where no user
    interaction is required. The tokens generated can be used to access APIs securely,
    ensuring that the client is authorized for the requested scopes.

    Args:
        body (TokenRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | TokenResponse
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: TokenRequest,
) -> Response[ErrorResponse | TokenResponse]:
    """Generate Auth Access Token

     This API endpoint allows clients to obtain OAuth 2.0 access tokens using the
    client_credentials grant type. The client must provide its client ID and client
    secret in the Authorization header, using the Basic authentication scheme. The
    generated access token can then be used to authenticate and access protected
    resources within the system.

    The request body must include the grant_type as client_credentials, and a scope
    parameter that defines the permissions being requested. The API will return an
    access token, along with optional tokens such as an ID token or a refresh token if
    supported.

    This endpoint is used for machine-to-machine authentication, where no user
    interaction is required. The tokens generated can be used to access APIs securely,
    ensuring that the client is authorized for the requested scopes.

    Args:
        body (TokenRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | TokenResponse]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: TokenRequest,
) -> ErrorResponse | TokenResponse | None:
    """Generate Auth Access Token

     This API endpoint allows clients to obtain OAuth 2.0 access tokens using the
    client_credentials grant type. The client must provide its client ID and client
    secret in the Authorization header, using the Basic authentication scheme. The
    generated access token can then be used to authenticate and access protected
    resources within the system.

    The request body must include the grant_type as client_credentials, and a scope
    parameter that defines the permissions being requested. The API will return an
    access token, along with optional tokens such as an ID token or a refresh token if
    supported.

    This endpoint is used for machine-to-machine authentication, where no user
    interaction is required. The tokens generated can be used to access APIs securely,
    ensuring that the client is authorized for the requested scopes.

    Args:
        body (TokenRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | TokenResponse
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed

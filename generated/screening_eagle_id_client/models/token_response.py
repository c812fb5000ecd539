from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="TokenResponse")


@_attrs_define
class TokenResponse:
    """The access token and, if applicable, additional tokens (e.g., refresh token or ID
    token).

        Attributes:
            token_type (str): The type of token issued. Typically, this will be Bearer, indicating that the
                token is a bearer token, which must be sent in the Authorization header when
                accessing protected resources.
            access_token (str): The access token issued by the authorization server. This token is used to
                access protected resources.
            expires_in (int): The number of seconds for which the access token is valid. Once this time
                expires, the token must be refreshed or a new one must be obtained.
            scope (str | Unset): The scopes associated with the access token, indicating the granted permissions.
            id_token (str | Unset): The ID token issued by the server, if applicable. This token contains identity-related
                information.
            refresh_token (str | Unset): The refresh token, which can be used to obtain new access tokens without
                needing to re-authenticate. This field is included if the server supports
                token refreshing.
    """

    token_type: str
    access_token: str
    expires_in: int
    scope: str | Unset = UNSET
    id_token: str | Unset = UNSET
    refresh_token: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        token_type = self.token_type

        access_token = self.access_token

        expires_in = self.expires_in

        scope = self.scope

        id_token = self.id_token

        refresh_token = self.refresh_token

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "token_type": token_type,
                "access_token": access_token,
                "expires_in": expires_in,
            }
        )
        if scope is not UNSET:
            field_dict["scope"] = scope
        if id_token is not UNSET:
            field_dict["id_token"] = id_token
        if refresh_token is not UNSET:
            field_dict["refresh_token"] = refresh_token

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        token_type = d.pop("token_type")

        access_token = d.pop("access_token")

        expires_in = d.pop("expires_in")

        scope = d.pop("scope", UNSET)

        id_token = d.pop("id_token", UNSET)

        refresh_token = d.pop("refresh_token", UNSET)

        token_response = cls(
            token_type=token_type,
            access_token=access_token,
            expires_in=expires_in,
            scope=scope,
            id_token=id_token,
            refresh_token=refresh_token,
        )

        token_response.additional_properties = d
        return token_response

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties

"""The standalone index service (spec §2.4, R20-R26): image lists and access tokens."""

from __future__ import annotations

import json
import secrets
import string
from typing import Any

from ..storage import PathNotFoundError, Storage
from . import layout
from .errors import INVALID_DATA, Invalid, NotFound

_TOKEN_ALPHABET = string.ascii_uppercase + string.digits


def make_token(namespace: str, repository: str, access: str) -> str:
    """``Token signature=<16 random [A-Z0-9]>,repository="<ns>/<repo>",access=<access>``."""
    signature = "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(16))
    return f'Token signature={signature},repository="{namespace}/{repository}",access={access}'


def parse_image_list(body: bytes) -> list[dict[str, Any]]:
    """Decode an index image list ``[{"id": ..., "checksum"?: ...}, ...]``.

    :raises Invalid: ``Error Decoding JSON`` or ``Invalid data`` (not a list of objects
        with a valid image id: the seed accepted anything, we validate, spec §1.3 REC).
    """
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Invalid("Error Decoding JSON") from None
    if not isinstance(data, list):
        raise Invalid(INVALID_DATA)
    for item in data:
        if not isinstance(item, dict) or not layout.is_image_id(item.get("id")):
            raise Invalid(INVALID_DATA)
        checksum = item.get("checksum")
        if checksum is not None and not isinstance(checksum, str):
            raise Invalid(INVALID_DATA)
    return data


def merge_image_lists(new: list[dict[str, Any]], old: list[dict[str, Any]]) -> list[dict]:
    """The seed's merge: new + old reduced by id; a later entry with a checksum replaces
    an earlier one without; only ``id`` and ``checksum`` are kept (Q19: always)."""
    merged: dict[str, dict[str, Any]] = {}
    for item in [*new, *old]:
        image_id = item["id"]
        entry = {"id": image_id}
        if item.get("checksum"):
            entry["checksum"] = item["checksum"]
        current = merged.get(image_id)
        if current is None or ("checksum" not in current and "checksum" in entry):
            merged[image_id] = entry
    return list(merged.values())


class IndexStore:
    """The ``_index_images`` list of each repository.

    :param storage: the registry's storage.
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def put_images(self, namespace: str, repository: str, body: bytes) -> tuple[bool, list]:
        """Merge the request's image list into ``_index_images`` (R22, R23).

        :returns: ``(created, stored list)``; ``created`` when the file was new.
        """
        new = parse_image_list(body)
        path = layout.index_images_path(namespace, repository)
        try:
            old_raw = self.storage.get_content(path)
        except PathNotFoundError:
            old_raw = None
        old: list[dict[str, Any]] = []
        if old_raw is not None:
            try:
                old = parse_image_list(old_raw)
            except Invalid:
                old = []
        merged = merge_image_lists(new, old)
        self.storage.put_content(path, json.dumps(merged).encode())
        return old_raw is None, merged

    def get_images(self, namespace: str, repository: str) -> bytes:
        """The raw stored list (R24). :raises NotFound: ``images not found``."""
        try:
            return self.storage.get_content(layout.index_images_path(namespace, repository))
        except PathNotFoundError:
            raise NotFound("images not found") from None

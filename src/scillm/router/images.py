"""Image-size policy: inline ``data:image/*;base64`` parts are measured before anything is sent."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from scillm.errors import ImagePolicyError

__all__ = ["ImagePolicy", "check_images", "image_policy_from"]


@dataclass(frozen=True, slots=True)
class ImagePolicy:
    """Limits on decoded inline image sizes; ``mode="reject"`` raises before any network call."""

    max_each_bytes: int = 5_000_000
    max_total_bytes: int = 20_000_000
    mode: str = "reject"


def image_policy_from(arg: ImagePolicy | Mapping[str, Any] | bool | None) -> ImagePolicy | None:
    """``None``/``True`` → the defaults; ``False`` or ``{}`` → off (as in the seed); a mapping
    overrides fields."""
    if arg is False or (isinstance(arg, Mapping) and not arg):
        return None
    if arg is None or arg is True:
        return ImagePolicy()
    if isinstance(arg, ImagePolicy):
        return arg
    unknown = set(arg) - {"max_each_bytes", "max_total_bytes", "mode"}
    if unknown:
        raise ValueError(f"image_policy has unknown keys {sorted(unknown)}")
    policy = ImagePolicy(**arg)
    if policy.mode != "reject":
        raise ValueError(f"image_policy mode {policy.mode!r} is not supported; use 'reject'")
    return policy


def _data_urls(messages: list[dict[str, Any]]) -> Iterator[str]:
    for msg in messages:
        content = msg.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "image_url":
                continue
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str) and url.startswith("data:image/"):
                yield url


def _decoded_size(data_url: str) -> int:
    _, _, payload = data_url.partition(";base64,")
    payload = payload.strip()
    return len(payload) * 3 // 4 - payload[-2:].count("=")


def check_images(messages: list[dict[str, Any]], policy: ImagePolicy | None) -> None:
    """Raise :class:`ImagePolicyError` when inline images exceed the policy (URLs pass)."""
    if policy is None:
        return
    sizes = [_decoded_size(url) for url in _data_urls(messages)]
    if not sizes:
        return
    too_big = [(i, s) for i, s in enumerate(sizes) if s > policy.max_each_bytes]
    if too_big:
        i, size = too_big[0]
        raise ImagePolicyError(
            f"image payload exceeds policy limits: image {i} is {size:,} bytes decoded, over "
            f"max_each_bytes={policy.max_each_bytes:,}. Downscale it, or raise the limit with "
            "Router(image_policy={'max_each_bytes': ...})."
        )
    total = sum(sizes)
    if total > policy.max_total_bytes:
        raise ImagePolicyError(
            f"image payload exceeds policy limits: {len(sizes)} images total {total:,} bytes "
            f"decoded, over max_total_bytes={policy.max_total_bytes:,}. Send fewer or smaller "
            "images, or raise the limit."
        )

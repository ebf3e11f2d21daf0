"""Service settings: the limits a client cannot exceed, and who may call the API from a browser."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ServiceSettings:
    """Limits and options of the HTTP service.

    Attributes:
        max_image_bytes: largest accepted encoded image, in bytes (larger: 413).
        max_request_bytes: largest accepted request body, in bytes; bounds a batch (larger: 413).
        max_pixels: largest accepted decoded image, width * height, read from the header before decoding (422).
        max_faces: an image with more detected faces than this is refused (422).
        max_batch: most images in one ``/v1/predict/batch`` request (more: 413).
        max_concurrency: inferences running at once, in worker threads; the rest wait their turn.
        cors_origins: origins allowed to call the API from a browser; empty means CORS is off.
        annotate_format: ``"jpeg"`` or ``"png"``, the encoding of annotated images.
    """

    max_image_bytes: int = 8 * 2**20
    max_request_bytes: int = 32 * 2**20
    max_pixels: int = 40_000_000
    max_faces: int = 32
    max_batch: int = 16
    max_concurrency: int = 1
    cors_origins: tuple[str, ...] = ()
    annotate_format: str = "jpeg"

    def __post_init__(self) -> None:
        for name in ("max_image_bytes", "max_request_bytes", "max_pixels", "max_faces", "max_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {self.max_concurrency}")
        if self.annotate_format not in ("jpeg", "png"):
            raise ValueError(f"annotate_format must be 'jpeg' or 'png', got {self.annotate_format!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cors_origins"] = list(self.cors_origins)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ServiceSettings:
        d = dict(d)
        if "cors_origins" in d:
            d["cors_origins"] = tuple(d["cors_origins"])
        return cls(**d)

"""The JSON the API answers with, as pydantic models (they also make the OpenAPI schema at /docs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Box(BaseModel):
    x: float = Field(description="left edge, pixels")
    y: float = Field(description="top edge, pixels")
    w: float = Field(description="width, pixels")
    h: float = Field(description="height, pixels")


class FaceOut(BaseModel):
    box: Box
    landmarks: list[list[float]] | None = Field(None, description="(x, y) points from the detector, when it has them")
    probs: dict[str, float] = Field(description="probability of each of the model's classes")
    label: str = Field(description="the most probable class")
    score: float = Field(description="the probability of `label`")


class ImageSize(BaseModel):
    width: int
    height: int


class Annotated(BaseModel):
    format: str = Field(description="'jpeg' or 'png'")
    data: str = Field(description="the annotated image, base64")


class PredictResponse(BaseModel):
    faces: list[FaceOut]
    classes: list[str]
    image: ImageSize
    annotated: Annotated | None = None


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class BatchItem(BaseModel):
    index: int = Field(description="position of the image in the request")
    status: int = Field(description="the HTTP status this image alone would have had")
    result: PredictResponse | None = None
    error: ErrorDetail | None = None


class BatchResponse(BaseModel):
    results: list[BatchItem]


class ModelInfo(BaseModel):
    name: str
    arch: str | None
    classes: list[str] = Field(description="the model's classes, in the order of its outputs")
    preprocessing: dict[str, Any] = Field(description="how a face becomes model input (size, margin, align)")
    temperature: float = Field(description="calibration: logits are divided by this before softmax")
    metrics: dict[str, Any] = Field(description="evaluation results stored in the model file")
    backend: str | None
    head: str | None = Field(None, description="the head of a multi-head model that answers")
    prior: str | dict[str, float] | None = Field(
        None, description="the class mix the probabilities are moved to (serve --prior); null: as calibrated"
    )
    ferkit_version: str


class Health(BaseModel):
    status: str
    detail: str | None = None

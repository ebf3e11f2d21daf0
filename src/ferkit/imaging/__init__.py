"""Pixels from bytes, and faces from pixels: the one home of image decoding (with its size and structure checks)
and of the face crop, below both ``ferkit.data`` (dataset reading) and ``ferkit.inference`` (prediction), so that
the same checks protect both and the same crop feeds training and inference. Nothing here imports either package.
"""

from ferkit.imaging.crop import (
    PHOTO_SIDE,
    Detection,
    crop_face,
    crop_faces,
    crop_square,
    eye_angle,
    to_face,
    whole_image,
)
from ferkit.imaging.decode import (
    IMAGE_SUFFIXES,
    MAX_FILE_BYTES,
    MAX_PIXELS,
    Color,
    ImageInput,
    decode,
    from_array,
    header_size,
    load_image,
    read_file,
)
from ferkit.imaging.formats import FORMATS, ImageHeader, check
from ferkit.imaging.quiet import quiet_codecs

__all__ = [
    "FORMATS",
    "MAX_FILE_BYTES",
    "ImageHeader",
    "check",
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "PHOTO_SIDE",
    "Color",
    "Detection",
    "ImageInput",
    "crop_face",
    "crop_faces",
    "crop_square",
    "decode",
    "eye_angle",
    "from_array",
    "header_size",
    "load_image",
    "quiet_codecs",
    "whole_image",
    "read_file",
    "to_face",
]

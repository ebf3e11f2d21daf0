"""CK+ as the common CK+48 re-upload: ``CK+48/<emotion>/S###_###_########.png``, 48x48 gray.

CK+ has no official split: every face is ``train``. File names are ``<subject>_<sequence>_<frame>``, and each
sequence contributes several near-identical frames, so any split of CK+ must be subject-wise: ``subject(id)``
gives the subject of a sample id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath

from ferkit.data.errors import ErrorPolicy
from ferkit.data.sample import Sample, one_hot
from ferkit.data.storage import Encoded, Tree, decode_image
from ferkit.errors import DataError
from ferkit.taxonomy import Taxonomy

# The class folders, in alphabetical order (the re-upload's own spellings).
TAXONOMY = Taxonomy(("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"))
_FILE_RE = re.compile(r"(?:^|/)([a-z]+)/(S\d{3})_\d{3}_\d{8}\.png$", re.IGNORECASE)


def subject(sample_id: str) -> str:
    """The CK+ subject (``S010``) of a sample id such as ``anger/S010_004_00000017.png``."""
    return PurePosixPath(sample_id).name.split("_", 1)[0]


class Adapter:
    """``CK+48/<anger|contempt|disgust|fear|happy|sadness|surprise>/S###_###_########.png``; all ``train``."""

    name = "ckplus"
    taxonomy = TAXONOMY

    @staticmethod
    def detect(tree: Tree) -> bool:
        if tree.focus:
            return False
        return any((m := _FILE_RE.search(n)) and m.group(1).lower() in TAXONOMY for n in tree.images())

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        files = tree.images()
        if not files:
            raise DataError(tree.path, "no images found (CK+48 layout <emotion>/S###_###_########.png)")
        for name in files:
            parts = PurePosixPath(name).parts
            try:
                cls = parts[-2].lower() if len(parts) >= 2 else ""
                if cls not in TAXONOMY:
                    raise DataError(tree.where(name), f"unknown class folder {cls!r}; known {list(TAXONOMY)}")
                image = Encoded(tree.read(name), tree.where(name))
            except DataError as e:
                policy.handle(e)
                continue
            yield Sample(f"{cls}/{parts[-1]}", image, "train", one_hot(TAXONOMY, cls))


# ---- the official release ---------------------------------------------------------------------------------------

# The official label files' codes 0..7, in this order (CK+ README); sequences are labelled 1..7, never neutral.
OFFICIAL_TAXONOMY = Taxonomy(("neutral", "anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"))
_LABEL_RE = re.compile(r"(?:^|/)Emotion/(S\d{3})/(\d{3})/(S\d{3}_\d{3}_\d{8})_emotion\.txt$", re.IGNORECASE)
APEX_FRAMES = 3  # the labelled (last) frame and the two before it, as the CK+48 re-upload takes them


class OfficialAdapter:
    """The official CK+ download: ``cohn-kanade-images/S###/###/S###_###_########.png`` (640x490 photos) and
    ``Emotion/S###/###/S###_###_########_emotion.txt`` (one code, e.g. ``3.0000000e+00``) for the 327 labelled
    sequences. Each labelled sequence gives its last ``APEX_FRAMES`` frames, their faces found and cropped as at
    inference (as JAFFE's); unlabelled sequences, landmarks and FACS files are not read. All ``train``; the subject
    leads the id, for subject-wise splits (``subject``)."""

    name = "ckplus-official"
    taxonomy = OFFICIAL_TAXONOMY

    @staticmethod
    def detect(tree: Tree) -> bool:
        return tree.focus is None and any(_LABEL_RE.search(n) for n in tree.names())

    @staticmethod
    def cache_salt() -> str:
        from ferkit.data.sources import jaffe

        return jaffe.Adapter.cache_salt()

    @staticmethod
    def read(tree: Tree, policy: ErrorPolicy) -> Iterator[Sample]:
        from ferkit.data.sources import jaffe

        sequences: dict[tuple[str, str], list[str]] = {}
        for n in tree.images():
            parts = PurePosixPath(n).parts
            if len(parts) >= 3 and re.fullmatch(r"S\d{3}", parts[-3]) and re.fullmatch(r"\d{3}", parts[-2]):
                sequences.setdefault((parts[-3], parts[-2]), []).append(n)
        detector = None
        for name in tree.names():
            if not (m := _LABEL_RE.search(name)):
                continue
            where = tree.where(name)
            try:
                cls = _official_label(tree.read(name), where)
                frames = sorted(sequences.get((m.group(1), m.group(2)), []), key=lambda f: PurePosixPath(f).name)
                last = [i for i, f in enumerate(frames) if PurePosixPath(f).stem == m.group(3)]
                if not last:
                    raise DataError(where, f"its frame {m.group(3)}.png is not among the images")
            except DataError as e:
                policy.handle(e)
                continue
            detector = detector or jaffe._detector()
            for frame in frames[max(0, last[0] + 1 - APEX_FRAMES) : last[0] + 1]:
                try:
                    image = jaffe.face_of(
                        decode_image(tree.read(frame), tree.where(frame)), detector, tree.where(frame)
                    )
                except DataError as e:
                    policy.handle(e)
                    continue
                yield Sample(
                    f"{m.group(1)}/{PurePosixPath(frame).name}", image, "train", one_hot(OFFICIAL_TAXONOMY, cls)
                )


def _official_label(data: bytes, where: str) -> str:
    """The class of an official CK+ label file: one number, a code 0..7 written as a float."""
    text = data.decode("ascii", "replace").strip()
    try:
        code = float(text)
    except ValueError:
        raise DataError(where, f"expected one emotion code, found {text[:40]!r}") from None
    if not code.is_integer() or not 0 <= code < len(OFFICIAL_TAXONOMY):
        raise DataError(where, f"unknown emotion code {text} (expected 0..7)")
    return OFFICIAL_TAXONOMY.classes[int(code)]

"""Near-duplicate faces across sources and splits, by perceptual hash (robust to JPEG noise)."""

from __future__ import annotations

import cv2
import numpy as np

_BANDS = 4  # 64-bit hash split into 4 bands of 16 bits: pairs within distance 3 share a band exactly


def phash(images: np.ndarray) -> np.ndarray:
    """64-bit DCT perceptual hashes of (N, H, W) uint8 faces, as (N,) uint64."""
    out = np.zeros(len(images), np.uint64)
    weights = (1 << np.arange(64, dtype=np.uint64)).astype(np.uint64)
    for i, img in enumerate(images):
        small = cv2.resize(img.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)
        low = cv2.dct(small)[:8, :8].ravel()
        bits = low > np.median(low[1:])
        out[i] = np.bitwise_or.reduce(weights[bits]) if bits.any() else 0
    return out


def _popcount(x: np.ndarray) -> np.ndarray:
    return np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(1)


def match(query: np.ndarray, ref: np.ndarray, max_distance: int = 3) -> list[tuple[int, int, int]]:
    """Pairs (query index, ref index, Hamming distance) of hashes within ``max_distance`` (at most 3)."""
    pairs: dict[tuple[int, int], int] = {}
    for b in range(_BANDS):
        shift = np.uint64(16 * b)
        qk = (query >> shift) & np.uint64(0xFFFF)
        rk = (ref >> shift) & np.uint64(0xFFFF)
        index: dict[int, list[int]] = {}
        for j, k in enumerate(rk.tolist()):
            index.setdefault(k, []).append(j)
        for i, k in enumerate(qk.tolist()):
            for j in index.get(k, ()):
                if (i, j) not in pairs:
                    d = int(_popcount(np.array([query[i] ^ ref[j]], np.uint64))[0])
                    if d <= max_distance:
                        pairs[(i, j)] = d
    return [(i, j, d) for (i, j), d in pairs.items()]


def leak_mask_images(train: np.ndarray, held: np.ndarray, max_distance: int = 3) -> np.ndarray:
    """(len(train),) bool: true where a training face near-duplicates a held-out (val/test) face."""
    mask = np.zeros(len(train), bool)
    if len(train) and len(held):
        for i, _, _ in match(phash(train), phash(held), max_distance):
            mask[i] = True
    return mask

"""Regenerate the object masks shipped in ``swagfast/data/masks/`` (run once; documented here).

* ``chelsea.png``: the cat of scikit-image's ``chelsea`` photo. The cat's head fills the frame
  and its dark fur defeats automatic segmentation, so the mask is a polygon drawn by hand along
  the head's right-hand contour (the head runs off the photo on the other three sides).
* ``coffee.png``: cup, espresso, spoon and saucer of scikit-image's ``coffee`` photo, by
  OpenCV's GrabCut (8 iterations, RNG seed 0) from the rectangle (40, 15, 520, 375) x/y/w/h,
  keeping the largest component with its holes filled.

Run: ``python -m swagfast.data.make_masks``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

CHELSEA_POLYGON = [(0, 0), (350, 0), (372, 50), (385, 110), (380, 180), (365, 240), (345, 299), (0, 299)]
COFFEE_RECT = (40, 15, 520, 375)


def chelsea_mask() -> np.ndarray:
    import skimage.data

    m = np.zeros(skimage.data.chelsea().shape[:2], np.uint8)
    cv2.fillPoly(m, [np.array(CHELSEA_POLYGON, np.int32)], 1)
    return m.astype(bool)


def grabcut_mask(image: np.ndarray, rect: tuple[int, int, int, int], iterations: int = 8) -> np.ndarray:
    mask = np.zeros(image.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(
        cv2.cvtColor(image, cv2.COLOR_RGB2BGR), mask, rect, bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT
    )
    m = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    _, lab, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    m = lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    # fill holes: background components that do not touch the border
    _, holes = cv2.connectedComponents((~m).astype(np.uint8), connectivity=4)
    border = np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))
    return m | ~np.isin(holes, border)


def coffee_mask() -> np.ndarray:
    import skimage.data

    return grabcut_mask(skimage.data.coffee(), COFFEE_RECT)


def main() -> None:
    out = Path(__file__).parent / "masks"
    out.mkdir(exist_ok=True)
    for name, mask in (("chelsea", chelsea_mask()), ("coffee", coffee_mask())):
        cv2.imwrite(str(out / f"{name}.png"), mask.astype(np.uint8) * 255)
        print(f"{name}: {mask.mean():.3f} of the photo -> {out / name}.png")


if __name__ == "__main__":
    main()

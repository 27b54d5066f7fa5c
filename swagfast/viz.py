"""Pictures: heatmap overlays and labelled panels, written atomically with OpenCV."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np


def normalize_heatmap(heatmap: np.ndarray, clip_percentile: float = 99.0) -> np.ndarray:
    """Scale a (H, W) heatmap, or a (T, H, W) clip's as a whole, to [0, 1]: min to 0, the
    ``clip_percentile`` value (and above) to 1."""
    h = np.asarray(heatmap, dtype=np.float64)
    if h.ndim not in (2, 3):
        raise ValueError(f"heatmap must have shape (H, W) or (T, H, W), got {h.shape}")
    lo = float(np.nanmin(h))
    hi = float(np.nanpercentile(h, clip_percentile))
    if not np.isfinite(hi - lo) or hi <= lo:
        return np.zeros_like(h)
    return np.clip((h - lo) / (hi - lo), 0.0, 1.0)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a JET-coloured heatmap over an (H, W, 3) uint8 RGB image, or a (T, H, W) heatmap over
    a (T, H, W, 3) clip (scaled over the whole clip, so frames compare); returns uint8 RGB."""
    if image.ndim not in (3, 4) or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) or (T, H, W, 3) uint8, got {image.shape} {image.dtype}")
    h = normalize_heatmap(heatmap)
    if h.shape != image.shape[:-1]:
        raise ValueError(f"heatmap must have the image's size {image.shape[:-1]}, got {h.shape}")
    if image.ndim == 4:
        return np.stack([_blend(f, hf, alpha) for f, hf in zip(image, h, strict=True)])
    return _blend(image, h, alpha)


def _blend(image: np.ndarray, h: np.ndarray, alpha: float) -> np.ndarray:
    colour = cv2.applyColorMap((h * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    return cv2.addWeighted(image, 1.0 - alpha, colour, alpha, 0.0)


def segment_borders(labels: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose right or lower neighbour has another label."""
    b = np.zeros(labels.shape, bool)
    b[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    b[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return b


def draw_borders(
    image: np.ndarray, labels: np.ndarray, colour: tuple[int, int, int] = (255, 255, 0)
) -> np.ndarray:
    """A copy of an (H, W, 3) uint8 image with the borders of ``labels`` (H, W) painted; clips
    ((T, H, W, 3) with (T, H, W) supervoxels) get each frame's borders."""
    if labels.shape != image.shape[:-1]:
        raise ValueError(f"labels must have the image's size {image.shape[:-1]}, got {labels.shape}")
    if labels.ndim == 3:
        return np.stack([draw_borders(f, lf, colour) for f, lf in zip(image, labels, strict=True)])
    out = image.copy()
    out[segment_borders(labels)] = colour
    return out


_FONT, _SCALE = cv2.FONT_HERSHEY_SIMPLEX, 0.42


def _text_width(text: str, scale: float = _SCALE) -> int:
    return cv2.getTextSize(text, _FONT, scale, 1)[0][0]


def wrap(line: str, width: int, scale: float = _SCALE) -> list[str]:
    """``line`` broken at spaces (a word too long for ``width`` pixels at its own place) so that
    each piece fits ``width`` pixels of text."""
    indent = line[: len(line) - len(line.lstrip(" "))]
    out, cur = [], ""
    for word in line.split():
        trial = f"{cur} {word}" if cur else indent + word
        if cur and _text_width(trial, scale) > width:
            out.append(cur)
            cur = indent + "  " + word
        else:
            cur = trial
    return [*out, cur] if cur or not out else out


def caption(image: np.ndarray, lines: list[str], height: int = 18) -> np.ndarray:
    """Add a white band with text lines under an RGB image (lines wider than the image wrap)."""
    lines = [piece for line in lines for piece in wrap(line, image.shape[1] - 8)]
    band = np.full((height * len(lines) + 6, image.shape[1], 3), 255, np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(band, line, (4, height * (i + 1)), _FONT, _SCALE, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([image, band], axis=0)


def titled(image: np.ndarray, title: str, height: int = 20) -> np.ndarray:
    """``image`` with ``title`` centred on a white band above it (cut to the image's width)."""
    band = np.full((height, image.shape[1], 3), 255, np.uint8)
    if _text_width(title) > image.shape[1] - 4:
        while len(title) > 1 and _text_width(title + "...") > image.shape[1] - 4:
            title = title[:-1]
        title += "..."
    x = max(2, (image.shape[1] - _text_width(title)) // 2)
    cv2.putText(band, title, (x, height - 6), _FONT, _SCALE, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([band, image], axis=0)


def colour_bar(width: int, height: int = 34, clip_percentile: float = 99.0) -> np.ndarray:
    """A (height, width, 3) white band with the heatmaps' JET scale and its meaning: low on the
    left, high (the image's ``clip_percentile`` and above, see :func:`normalize_heatmap`) on
    the right."""
    band = np.full((height, width, 3), 255, np.uint8)
    left, right = 40, max(41, width - 110)
    ramp = np.linspace(0, 255, right - left).astype(np.uint8)[None]
    band[4:16, left:right] = cv2.applyColorMap(ramp, cv2.COLORMAP_JET)[..., ::-1]
    cv2.putText(band, "low", (4, 15), _FONT, _SCALE, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(
        band, f"high (p{clip_percentile:g})", (right + 4, 15), _FONT, _SCALE, (0, 0, 0), 1, cv2.LINE_AA
    )
    cv2.putText(band, "heatmap scaled per image", (left, 30), _FONT, 0.38, (90, 90, 90), 1, cv2.LINE_AA)
    return band


def labelled_strip(rows: list[np.ndarray], labels: list[str], frames: list[int]) -> np.ndarray:
    """Rows of frames ((n, H, W, 3) each) as one picture: a row label on the left of each row and
    the frame number above each column."""
    n, h, w = rows[0].shape[:3]
    label_w = max(_text_width(t) for t in labels) + 10
    head = np.full((18, label_w + n * w, 3), 255, np.uint8)
    for j, f in enumerate(frames):
        cv2.putText(head, f"frame {f}", (label_w + j * w + 4, 13), _FONT, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    out = [head]
    for row, text in zip(rows, labels, strict=True):
        side = np.full((h, label_w, 3), 255, np.uint8)
        cv2.putText(side, text, (4, h // 2 + 4), _FONT, _SCALE, (0, 0, 0), 1, cv2.LINE_AA)
        out.append(np.concatenate([side, *row], axis=1))
    return np.concatenate(out, axis=0)


def write_png(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image as PNG atomically (temporary file + rename): never half-written."""
    path = Path(path)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:  # pragma: no cover - OpenCV failure
        raise RuntimeError(f"could not encode {path} as PNG")
    write_bytes_atomic(path, buf.tobytes())
    return path


def _read_umask() -> int:
    mask = os.umask(0o022)  # the umask can only be read by setting it: once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def created_mode(directory: bool = False) -> int:
    """The permissions ``open`` / ``mkdir`` would give a new file (folder) under the process's
    umask; temporary files and folders start private (0600 / 0700), so whatever is renamed into
    place gets these first."""
    return (0o777 if directory else 0o666) & ~_UMASK


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename, so
    ``path`` is never half-written; it gets the permissions a plain write would give it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, created_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_PAGE_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
background:#f4f5f7;color:#1d2330}
header{padding:18px 24px;background:#1d2330;color:#fff}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c9cfdb;font-size:13px}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,520px),1fr));gap:18px;
padding:20px 24px}
figure{margin:0;background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12);overflow:hidden}
figure img,figure video{display:block;width:100%;height:auto;background:#000}
figcaption{padding:10px 14px 12px;font-size:14px}figcaption b{font-size:15px}
figcaption .method{display:inline-block;background:#e8ecf5;border-radius:4px;padding:0 6px;font-size:13px}
figcaption small{color:#5b6475}figcaption a{color:#2458c6}
.bar{height:12px;border-radius:3px;margin:6px 0 2px;
background:linear-gradient(90deg,#00008f,#0000ff,#00ffff,#ffff00,#ff0000,#800000)}
.scale{display:flex;justify-content:space-between;font-size:12px;color:#5b6475}
section{padding:0 24px 24px}section li{color:#8a2a2a}
"""


def gallery_html(rows: list[dict], title: str, skipped: list[str] | None = None) -> bytes:
    """A self-contained page of explanations: a responsive grid with, per row (the JSON rows
    that :meth:`swagfast.Explanation.save_item` writes), its figure, its video embedded when it
    has one, a caption (input, method, explained class, top-1), and a colour scale; then the
    inputs that were ``skipped`` and why. File names are URL-quoted and every text escaped."""
    import html
    from urllib.parse import quote

    def href(name: str) -> str:  # a file name as a link: URL-quoted ('#', '?', '%'), then escaped
        return html.escape(quote(name))

    cards = []
    for r in rows:
        top = (r.get("top5") or [{"name": "?", "prob": float("nan")}])[0]
        png = href(r["png"])
        media = f'<a href="{png}"><img src="{png}" alt="{html.escape(r["png"])}" loading="lazy"></a>'
        if r.get("video"):
            media += (
                f'<video src="{href(r["video"])}" controls muted loop playsinline preload="metadata"></video>'
            )
        cards.append(
            f"<figure>{media}<figcaption><b>{html.escape(str(r.get('input', r.get('name', ''))))}</b> "
            f"<span class='method'>{html.escape(r['method'])}</span><br>"
            f"explained: {html.escape(r['target']['name'])} ({r['target']['class']}) &middot; "
            f"top-1: {html.escape(top['name'])} ({top['prob']:.2f})"
            "<div class='bar'></div><div class='scale'><span>low</span><span>high</span></div>"
            f'<small><a href="{href(r["json"])}">{html.escape(r["json"])}</a></small></figcaption></figure>'
        )
    missing = ""
    if skipped:
        items = "".join(f"<li>{html.escape(s)}</li>" for s in skipped)
        missing = f"<section><h2>Skipped ({len(skipped)})</h2><ul>{items}</ul></section>"
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_PAGE_STYLE}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{len(rows)} explanation(s); heatmaps from blue (low) "
        "to red (high), each scaled to its own image</p></header>"
        f"<main>{''.join(cards)}</main>{missing}</body></html>"
    )
    return page.encode()


__all__ = [
    "caption",
    "colour_bar",
    "draw_borders",
    "gallery_html",
    "labelled_strip",
    "normalize_heatmap",
    "overlay",
    "segment_borders",
    "titled",
    "wrap",
    "write_bytes_atomic",
    "write_png",
]

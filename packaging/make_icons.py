"""Draw the app icon: ``assets/icons/emotion-meter.{svg,png,ico,icns}``.

A meter (five coloured segments, a needle) over a small voice waveform, on the app's dark
background. The SVG is written from geometry here; Qt renders it (offscreen) into the PNG sizes
that the Windows ``.ico`` and macOS ``.icns`` files wrap as they are (both formats accept PNG
entries), so no image tool or download is needed. Run it again after changing the drawing:

    QT_QPA_PLATFORM=offscreen python packaging/make_icons.py
"""

from __future__ import annotations

import math
import struct
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "assets" / "icons"
NAME = "emotion-meter"
SIZE = 256
BACKGROUND = ("#252a36", "#121419")  # top, bottom of the rounded square
SEGMENTS = ("#5b9bd5", "#6cc24a", "#f2d04b", "#f5a03a", "#ef5b5b")  # from the app's palette
NEEDLE = "#d7dbe3"
WAVE = "#4cc2ff"
CX, CY, R, ARC_WIDTH = 128.0, 142.0, 84.0, 22.0
NEEDLE_DEGREES = 52.0  # 0 = right, 180 = left
BARS = (10, 22, 36, 46, 36, 22, 10)  # waveform bar heights
PNG_SIZES = (16, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 32, 48, 64, 128, 256)
ICNS_TYPES = {32: b"ic11", 64: b"ic12", 128: b"ic07", 256: b"ic08", 512: b"ic09", 1024: b"ic10"}


def _point(degrees: float, radius: float) -> tuple[float, float]:
    a = math.radians(degrees)
    return CX + radius * math.cos(a), CY - radius * math.sin(a)


def svg() -> str:
    """The icon as SVG text (256 × 256 user units)."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" '
        f'viewBox="0 0 {SIZE} {SIZE}">',
        "<title>Emotion Meter</title>",
        '<defs><linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">'
        f'<stop offset="0" stop-color="{BACKGROUND[0]}"/>'
        f'<stop offset="1" stop-color="{BACKGROUND[1]}"/></linearGradient></defs>',
        '<rect x="8" y="8" width="240" height="240" rx="52" fill="url(#bg)"/>',
    ]
    step, gap = 180.0 / len(SEGMENTS), 3.0
    for i, colour in enumerate(SEGMENTS):
        start, end = 180.0 - i * step - gap / 2, 180.0 - (i + 1) * step + gap / 2
        (x0, y0), (x1, y1) = _point(start, R), _point(end, R)
        parts.append(
            f'<path d="M {x0:.2f} {y0:.2f} A {R:g} {R:g} 0 0 1 {x1:.2f} {y1:.2f}" fill="none" '
            f'stroke="{colour}" stroke-width="{ARC_WIDTH:g}"/>'
        )
    tip = _point(NEEDLE_DEGREES, R - ARC_WIDTH / 2 - 8)
    parts += [
        f'<line x1="{CX:g}" y1="{CY:g}" x2="{tip[0]:.2f}" y2="{tip[1]:.2f}" stroke="{NEEDLE}" '
        'stroke-width="9" stroke-linecap="round"/>',
        f'<circle cx="{CX:g}" cy="{CY:g}" r="13" fill="{NEEDLE}"/>',
    ]
    spacing, width, base = 15.0, 8.0, 199.0
    for i, h in enumerate(BARS):
        x = CX + (i - (len(BARS) - 1) / 2) * spacing - width / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{base - h / 2:.1f}" width="{width:g}" height="{h:g}" '
            f'rx="{width / 2:g}" fill="{WAVE}"/>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def render(svg_text: str, sizes: tuple[int, ...]) -> dict[int, bytes]:
    """PNG bytes of the SVG at each size, drawn by Qt's SVG renderer offscreen."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(["make_icons", "-platform", "offscreen"])
    renderer = QSvgRenderer(QByteArray(svg_text.encode()))
    pngs = {}
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")  # type: ignore[call-overload]  # the stubs want bytes; runtime, str
        pngs[size] = bytes(data.data())
    return pngs


def ico(pngs: dict[int, bytes]) -> bytes:
    """A Windows icon whose entries are PNG images (supported since Windows Vista)."""
    header = struct.pack("<HHH", 0, 1, len(pngs))
    offset = len(header) + 16 * len(pngs)
    entries, blobs = b"", b""
    for size, data in sorted(pngs.items()):
        dim = 0 if size >= 256 else size  # 0 means 256
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        blobs += data
        offset += len(data)
    return header + entries + blobs


def icns(pngs: dict[int, bytes]) -> bytes:
    """A macOS icon file whose entries are PNG images."""
    body = b"".join(
        ICNS_TYPES[size] + struct.pack(">I", 8 + len(data)) + data
        for size, data in sorted(pngs.items())
    )
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    text = svg()
    (OUT / f"{NAME}.svg").write_text(text, encoding="utf-8")
    pngs = render(text, PNG_SIZES)
    (OUT / f"{NAME}.png").write_bytes(pngs[256])
    (OUT / f"{NAME}.ico").write_bytes(ico({s: pngs[s] for s in ICO_SIZES}))
    (OUT / f"{NAME}.icns").write_bytes(icns({s: pngs[s] for s in ICNS_TYPES}))
    for f in sorted(OUT.glob(f"{NAME}.*")):
        print(f"{f.relative_to(OUT.parents[1])}: {f.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Contact sheets: content | style(s) | result side by side, labelled, for a person to look at."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont


def contact_sheet(
    panels: Sequence[tuple[str, Image.Image]],
    *,
    height: int = 384,
    gap: int = 8,
    label_height: int = 22,
    columns: int | None = None,
) -> Image.Image:
    """Lay ``(label, image)`` panels out in a grid, each scaled to ``height`` px tall."""
    if not panels:
        raise ValueError("contact_sheet needs at least one panel")
    thumbs = []
    for label, im in panels:
        im = im.convert("RGB")
        w = max(1, round(im.width * height / im.height))
        thumbs.append((label, im.resize((w, height), Image.Resampling.LANCZOS)))
    cols = columns or len(thumbs)
    rows = [thumbs[i:i + cols] for i in range(0, len(thumbs), cols)]
    width = max(sum(t.width for _, t in row) + gap * (len(row) + 1) for row in rows)
    sheet = Image.new("RGB", (width, len(rows) * (height + label_height + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    y = gap
    for row in rows:
        x = gap
        for label, t in row:
            draw.text((x, y), label, fill="black", font=font)
            sheet.paste(t, (x, y + label_height))
            x += t.width + gap
        y += height + label_height + gap
    return sheet

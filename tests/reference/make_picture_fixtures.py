"""Writes tests/data/fixtures/pictures/: the picture formats the app opens beside PNG and JPEG, as Pillow writes them.

- scan-3-pages.tif: a scanner's multi-page TIFF, three pages of different sizes and colours (red 60x80, green 80x60,
  blue 40x40), deflate-compressed;
- photo.webp: one lossless 64x48 WebP, left half red, right half blue.

test_workspace opens them (Qt's TIFF and WebP readers come with Debian's qt6-image-formats-plugins). Run once with
Pillow installed; CI only reads the outputs.

    python3 tests/reference/make_picture_fixtures.py
"""
import pathlib

from PIL import Image

OUT = pathlib.Path(__file__).resolve().parents[1] / "data" / "fixtures" / "pictures"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    pages = [Image.new("RGB", (60, 80), (220, 20, 20)), Image.new("RGB", (80, 60), (20, 200, 20)),
             Image.new("RGB", (40, 40), (20, 20, 220))]
    pages[0].save(OUT / "scan-3-pages.tif", save_all=True, append_images=pages[1:], compression="tiff_adobe_deflate")
    photo = Image.new("RGB", (64, 48), (220, 20, 20))
    photo.paste((20, 20, 220), (32, 0, 64, 48))
    photo.save(OUT / "photo.webp", lossless=True)
    for path in sorted(OUT.iterdir()):
        print(f"{path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

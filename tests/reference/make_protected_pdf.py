"""Writes tests/data/fixtures/pdf/protected.pdf: a one-page PDF (a red block top left, "TOTAL 12.50" in Helvetica)
encrypted with AES-256 by qpdf (Debian's `qpdf` package), user password "deepstack", owner password "owner".
test_workspace opens it with and without the password. Run once; CI only reads the output.

    python3 tests/reference/make_protected_pdf.py
"""
import pathlib
import subprocess
import tempfile

OUT = pathlib.Path(__file__).resolve().parents[1] / "data" / "fixtures" / "pdf" / "protected.pdf"


def plain_pdf() -> bytes:
    # Letter size in points, as the suites' own writePdf pages; the block covers (36..180, 36..180) from the top left.
    content = b"1 0 0 rg 36 612 144 144 re f\nBT /F1 24 Tf 0 0 0 rg 300 400 Td (TOTAL 12.50) Tj ET\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        plain = pathlib.Path(scratch) / "plain.pdf"
        plain.write_bytes(plain_pdf())
        subprocess.run(["qpdf", "--check", str(plain)], check=True, capture_output=True)
        # AES-256 draws a new file key and salts each run: the bytes differ from run to run, the contents do not.
        subprocess.run(["qpdf", "--encrypt", "deepstack", "owner", "256", "--", str(plain), str(OUT)], check=True)
    print(f"{OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

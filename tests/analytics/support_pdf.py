"""Reading a report PDF back as text, as an auditor's tools would."""

from __future__ import annotations

import io

from pypdf import PdfReader


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    # Whitespace differs between extractors; compare words, not layout.
    return " ".join(" ".join(page.extract_text() or "" for page in reader.pages).split())

"""Whole-file mistakes, named once at line 1: files that are not JSON Lines at all.

A JSON array, a pretty-printed object, a CSV export, a gzip or Parquet file, UTF-16 text: each
would otherwise give one error per physical line (hundreds, none naming the cause). Bedrock
reads ``.jsonl`` files, "each line is a JSON object corresponding to a record", UTF-8
([prep] model-customization-prepare.html). ``sniff`` looks at the file's first bytes
(``SNIFF_BYTES``) and returns the one problem, with what to do about it; the scanner reports it
at line 1 and reads no further. A file whose first line is a JSON object is never rejected here.

Line endings: the pages ask for one JSON object per line and say nothing about the terminator.
CRLF is accepted (the CR is JSON whitespace, RFC 8259 section 2, and records digest the same as
with LF); a file whose lines end in CR alone has no line breaks for a JSON Lines reader and is
rejected here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

SNIFF_BYTES = 64 * 1024
CODE = "NOT_JSON_LINES"
NEEDED = "Bedrock needs JSON Lines: one JSON object per line, UTF-8"

# (leading bytes, what the file is, how to get JSON Lines from it)
MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"\x1f\x8b", "a gzip-compressed file", "decompress it (gunzip FILE) and upload the .jsonl"),
    (b"PK\x03\x04", "a zip archive (or .xlsx/.docx)", "extract the .jsonl and upload it"),
    (b"PK\x05\x06", "an empty zip archive", "upload the .jsonl itself"),
    (b"PAR1", "an Apache Parquet file",
     "convert it: pandas.read_parquet(F).to_json(OUT, orient='records', lines=True)"),
    (b"BZh", "a bzip2-compressed file", "decompress it (bunzip2 FILE) and upload the .jsonl"),
    (b"\xfd7zXZ\x00", "an xz-compressed file", "decompress it (unxz FILE) and upload the .jsonl"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file", "decompress it (unzstd FILE)"),
)  # fmt: skip
# UTF-32 before UTF-16: the UTF-32 LE mark starts with the UTF-16 LE one.
BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xfe\x00\x00", "UTF-32 LE"),
    (b"\x00\x00\xfe\xff", "UTF-32 BE"),
    (b"\xff\xfe", "UTF-16 LE"),
    (b"\xfe\xff", "UTF-16 BE"),
)
RECODE = "re-save it as UTF-8 (iconv -f {enc} -t UTF-8 F > F.jsonl)"


@dataclass(frozen=True)
class FileProblem:
    code: str
    message: str


def _problem(what: str, fix: str) -> FileProblem:
    return FileProblem(CODE, f"the file is {what}, not JSON Lines; {fix}. {NEEDED}")


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:  # incl. UnicodeDecodeError
        return False


def _binary(head: bytes) -> FileProblem | None:
    for magic, what, fix in MAGIC:
        if head.startswith(magic):
            return _problem(what, fix)
    for bom, encoding in BOMS:
        if head.startswith(bom):
            return _problem(f"{encoding} text (byte order mark)", RECODE.format(enc=encoding[:6]))
    if b"\x00" in head:
        return _problem(
            "UTF-16/UTF-32 text without a byte order mark, or binary (it has NUL bytes)",
            RECODE.format(enc="UTF-16"),
        )
    return None


def _delimited(lines: list[bytes]) -> FileProblem | None:
    """CSV/TSV: a header row of plain names, the next row as many separators or more."""
    header = lines[0].strip()
    for sep, name in ((b"\t", "TSV"), (b",", "CSV")):
        fields = header.split(sep)
        if len(fields) < 2 or not all(f.strip(b' "') for f in fields):
            continue
        if len(lines) > 1 and lines[1].count(sep) < header.count(sep):
            continue
        shown = header[:80].decode("utf-8", "replace")
        reader = "read_csv(F)" if name == "CSV" else "read_csv(F, sep='\\t')"
        return _problem(
            f"{name} with a header row ({shown})",
            f"write one JSON object per row: pandas.{reader}.to_json(OUT, orient='records', "
            "lines=True), with the columns named as the format's fields",
        )
    return None


def sniff(head: bytes, complete: bool) -> FileProblem | None:
    """``head``: the file's first bytes (up to ``SNIFF_BYTES``); ``complete``: it is the whole
    file. Returns the whole-file problem, or None to read the file line by line."""
    if not head:
        return None
    found = _binary(head)
    if found is not None:
        return found
    text = head.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM is a line-1 error of its own
    lines = text.split(b"\n")
    if (len(lines) > 1 or complete) and _is_object(lines[0]):
        return None
    start = text.lstrip()[:1]
    if start == b"[":
        return _problem(
            "a JSON array ([{...}, {...}])",
            "write each element on its own line: jq -c '.[]' F > F.jsonl",
        )
    if b"\n" not in text and b"\r" in text and start == b"{":
        return _problem(
            "lines ending in CR alone (classic Mac)", "convert the line endings to LF or CRLF"
        )
    if start == b"{" and len(lines) > 1:
        first = lines[0].strip()
        indented = lines[1][:1] in (b" ", b"\t")
        if first == b"{" or (indented and not _is_object(lines[0])):
            return _problem(
                "JSON pretty-printed over many lines",
                "write each record on one line: jq -c . F > F.jsonl "
                "(or json.dumps(record) without indent)",
            )
    if start not in (b"{", b"") and len(lines) > 1:
        return _delimited(lines)
    return None


def oversize_first_line(max_bytes: int) -> FileProblem:
    """Line 1 runs past ``max_bytes`` without a line break: the file is one huge line."""
    return _problem(
        f"one line of more than {max_bytes >> 20} MiB (no line break: a minified JSON array "
        "or document?)",
        "write each record on its own line",
    )

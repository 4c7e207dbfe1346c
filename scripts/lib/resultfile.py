"""Reading twbench result files the way scripts/compare, summary and plot all
must: a bounded read, strict CSV rows whose faults name FILE:LINE, and a
main() guard so that no input ever ends in a traceback.

Exit statuses of the guard: what main() returns; 2 for BadInput (and
argparse's own errors); 130 on Ctrl-C; 141 when the reader of stdout went
away (what a shell tool killed by SIGPIPE gives, never 1, which a regression
job reads as "regression"); 3 for an exception the script did not expect (a
bug: one line naming it, no traceback).
"""

import csv
import io
import os
import sys
import traceback

# The most bytes read from one input file. A real results file is far below
# (the default matrix with 10 repetitions: ~300 KiB of CSV, ~1 MiB of JSON);
# /dev/zero or a runaway file must not be read until memory runs out.
MAX_INPUT_BYTES = 256 * 1024 * 1024
CHUNK_BYTES = 1 << 20

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


class BadInput(Exception):
    """Input that cannot be used; exit status 2. The message names the file
    (and the line where there is one)."""


def read_text(path, what="file", limit=MAX_INPUT_BYTES):
    """The UTF-8 text of path, at most limit bytes; BadInput on a file that
    cannot be read, is larger, holds a NUL byte (binary data: /dev/zero is
    refused at its first chunk) or is not UTF-8."""
    chunks = []
    total = 0
    lines = 0
    try:
        with open(path, "rb") as f:
            while True:
                chunk = f.read(CHUNK_BYTES)
                if not chunk:
                    break
                nul = chunk.find(b"\0")
                if nul >= 0:
                    line = lines + chunk.count(b"\n", 0, nul) + 1
                    raise BadInput(f"{path}:{line}: binary data (a NUL byte at "
                                   f"offset {total + nul}), not a {what}")
                total += len(chunk)
                lines += chunk.count(b"\n")
                if total > limit:
                    raise BadInput(f"{path}: larger than {limit // (1 << 20)} "
                                   f"MiB, the most read of one {what}")
                chunks.append(chunk)
    except OSError as e:
        raise BadInput(f"{path}: cannot read {what}: "
                       f"{e.strerror or e}") from None
    data = b"".join(chunks)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise BadInput(f"{path}:{line}: not UTF-8 text ({e.reason}), not a "
                       f"{what}") from None


def csv_rows(path, text, required=(), what="results CSV"):
    """(header, [(line, {column: stripped cell})]) of CSV text.

    Strict: a header with every required column and no column twice, every
    row exactly as many fields as the header (a file cut short by a full
    disk ends in a short row or an open quote), no malformed quoting. Blank
    lines are skipped. BadInput names FILE:LINE (the row's first line)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise BadInput(f"{path}: empty file, no CSV header") from None
    except csv.Error as e:
        raise BadInput(f"{path}:1: not a {what}: {e}") from None
    seen = set()
    for column in header:
        if column in seen:
            raise BadInput(f"{path}:1: column '{column}' twice in the header")
        seen.add(column)
    missing = [c for c in required if c not in seen]
    if missing:
        raise BadInput(f"{path}:1: missing column(s): {', '.join(missing)} "
                       f"(not a twbench {what}?)")
    rows = []
    line = reader.line_num
    while True:
        start = line + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise BadInput(f"{path}:{start}: {e}") from None
        line = reader.line_num
        if not fields or fields == [""]:
            continue
        if len(fields) != len(header):
            raise BadInput(f"{path}:{start}: {len(fields)} fields, the header "
                           f"has {len(header)}")
        rows.append((start, dict(zip(header, (f.strip() for f in fields)))))
    return header, rows


def _quiet_stdout():
    """After EPIPE: point stdout at /dev/null so that the interpreter's
    final flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


def run_main(prog, main, argv):
    """main(argv)'s status, every way out mapped to a documented status and
    at most one line on stderr. argparse's SystemExit passes through."""
    try:
        status = main(argv)
        sys.stdout.flush()
        return status
    except BadInput as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except MemoryError:
        print(f"{prog}: out of memory reading the input", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as e:  # a bug: say where in one line, no traceback
        frame = traceback.extract_tb(e.__traceback__)[-1]
        print(f"{prog}: internal error (a bug, please report it): "
              f"{type(e).__name__}: {e} at "
              f"{os.path.basename(frame.filename)}:{frame.lineno}",
              file=sys.stderr)
        return EXIT_INTERNAL

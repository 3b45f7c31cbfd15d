"""Time of reading a hostile mail's headers, as the pipeline does: prints a table and writes
reports/mail_headers.json and reports/mail_headers.md (a script, not a test).

Usage: .venv/bin/python scripts/measure_mail_headers.py

For each hostile header mail of the corpus (tests/hostile/corpus.py, HEADER_ATTACKS and the
older header cases), the CPU time of everything the intake, the worker and the dead letters do
with a stored mail's headers (tests/hostile/test_mail_headers.py's ``header_work``: parse,
Message-ID, routing, reading, loop guards, the reply and the forward written out). Then the
growth with the number of recipients in a raw ``To:`` (1,000 to 100,000): the bounded reading
beside the standard library's own (``policy.default``, one access to ``To``), which the project
used before, for the sizes that finish in reasonable time.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hostile.corpus import MAILS  # noqa: E402
from tests.hostile.test_mail_headers import HEADER_CASES, header_work  # noqa: E402

OUT = ROOT / "reports"
# The standard library's reading takes about 9 s at 20,000 recipients and grows faster than
# linearly: measured up to this many.
STDLIB_UP_TO = 20_000


def cpu(function, *args):  # type: ignore[no-untyped-def]
    started = time.thread_time()
    result = function(*args)
    return result, time.thread_time() - started


def recipients_mail(count: int) -> bytes:
    to = ", ".join(
        ["eshop.support@om-digitalsolutions.com"] + [f"r{i}@example.com" for i in range(count)]
    )
    return (
        f"From: Marie Dupont <marie.dupont@example.fr>\r\nTo: {to}\r\nSubject: Question\r\n"
        f"Message-ID: <n{count}@example.fr>\r\n\r\nBonjour,\r\nOù est ma commande ?\r\n"
    ).encode()


def stdlib_to(raw: bytes) -> None:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    str(message["To"])


def main() -> int:
    logging.disable(logging.WARNING)  # the routing's "no store mailbox" lines: not a figure
    cases = []
    for case in HEADER_CASES:
        raw = case.body
        (over_caps, _recipients, _size), seconds = cpu(header_work, raw)
        cases.append(
            {
                "case": case.name,
                "bytes": len(raw),
                "cpu_s": round(seconds, 4),
                "over_caps": over_caps,
            }
        )
        print(
            f"{case.name:45s} {len(raw):>9,d} B  {seconds:7.3f} s  {over_caps or '-'}", flush=True
        )
    growth = []
    for count in (1_000, 5_000, 20_000, 100_000):
        raw = recipients_mail(count)
        _result, bounded = cpu(header_work, raw)
        stdlib = cpu(stdlib_to, raw)[1] if count <= STDLIB_UP_TO else None
        growth.append(
            {
                "recipients": count,
                "bounded_cpu_s": round(bounded, 4),
                "stdlib_one_access_cpu_s": None if stdlib is None else round(stdlib, 3),
            }
        )
        shown = "not run" if stdlib is None else f"{stdlib:.3f} s"
        print(
            f"{count:>7,d} recipients: bounded {bounded:.3f} s, policy.default one access {shown}",
            flush=True,
        )
    OUT.mkdir(exist_ok=True)
    report = {
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average": list(__import__("os").getloadavg()),
        "mails": cases,
        "recipients": growth,
        "corpus_mails": len(MAILS),
    }
    (OUT / "mail_headers.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    lines = [
        "# Reading hostile mail headers (scripts/measure_mail_headers.py)",
        "",
        f"Measured {report['measured']}, load average {[round(x, 2) for x in report['load_average']]} "
        "(CPU time of this process: other work on the machine does not count).",
        "",
        "| mail | bytes | CPU s, all header work | over the caps |",
        "|---|---:|---:|---|",
        *[
            f"| {c['case']} | {c['bytes']:,} | {c['cpu_s']:.3f} | {c['over_caps'] or '-'} |"
            for c in cases
        ],
        "",
        "| recipients in `To:` | bounded, all header work (CPU s) | `policy.default`, one access to `To` (CPU s) |",
        "|---:|---:|---:|",
        *[
            f"| {g['recipients']:,} | {g['bounded_cpu_s']:.3f} | "
            f"{'not run' if g['stdlib_one_access_cpu_s'] is None else format(g['stdlib_one_access_cpu_s'], '.3f')} |"
            for g in growth
        ],
        "",
    ]
    (OUT / "mail_headers.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"written: {OUT / 'mail_headers.json'}, {OUT / 'mail_headers.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

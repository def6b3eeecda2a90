#!/usr/bin/env python3
"""Judge an Autobahn/kosoku report directory.

    python3 scripts/autobahn_check.py DIR [--expect-cases N] [--rerun RERUN_DIR]
    python3 scripts/autobahn_check.py DIR --list-timed-out

Reads DIR/index.json, which kosoku writes as

    {agent: {case_id: {"behavior", "behaviorClose", "duration" (ms),
                       "remoteCloseCode", "reportfile"}}}

(the per-case DIR/<reportfile> holds "description", "result", "resultClose"
and the full trace). We accept only OK or INFORMATIONAL in both verdicts;
NON-STRICT, UNIMPLEMENTED, FAILED, ERROR, WRONG CODE, UNCLEAN ... all fail.
Note that kosoku's own exit status treats NON-STRICT as a pass, and that its
fuzzing server reports only the cases a client ran, hence --expect-cases.

kosoku stops every case after 20 s of wall time, whatever the case's own
timeout says. --list-timed-out prints the cases that failed only on that
limit (echoes not finished, closing handshake clean); the server role runs
those once more into RERUN_DIR, and --rerun judges each of them by its
second run instead, saying so. Any other verdict stands.

Exit status: 0 if every case passed, 1 on any failure, a missing or short
report, or zero cases. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

ACCEPTED = {"OK", "INFORMATIONAL"}


def case_key(case_id: str) -> list[int]:
    return [int(p) if p.isdigit() else 0 for p in case_id.split(".")]


def one_line(text: str, limit: int = 240) -> str:
    """Case descriptions hold HTML and newlines: strip tags, fold whitespace."""
    text = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def details(outdir: Path, entry: dict) -> dict:
    """The per-case report, or {} if it is missing or unreadable."""
    name = entry.get("reportfile")
    if not name:
        return {}
    try:
        return json.loads((outdir / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def read_index(outdir: Path, quiet: bool = False) -> dict | None:
    index_path = outdir / "index.json"
    try:
        return json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        if not quiet:
            print(f"autobahn: FAIL: cannot read {index_path}: {error}")
        return None


def timed_out(outdir: Path, entry: dict) -> bool:
    """Failed only on kosoku's per-case wall-clock limit."""
    return (entry.get("behavior") == "FAILED"
            and entry.get("behaviorClose") in ACCEPTED
            and details(outdir, entry).get("result", "").startswith("Case did not finish within"))


def check(outdir: Path, expect_cases: int | None, rerun: Path | None) -> bool:
    index = read_index(outdir)
    if index is None:
        return False
    if rerun is not None:
        again = read_index(rerun) or {}
        for agent, cases in again.items():
            for c, entry in cases.items():
                first = index.get(agent, {}).get(c)
                if first is None or not timed_out(outdir, first):
                    continue
                print(f"autobahn: {c} hit the 20 s case limit ({first.get('duration')} ms); "
                      f"its second run: behavior={entry.get('behavior')} "
                      f"behaviorClose={entry.get('behaviorClose')} ({entry.get('duration')} ms)")
                index[agent][c] = dict(entry, reportfile=f"../{rerun.name}/{entry.get('reportfile')}")

    ok = True
    total_cases = 0
    for agent, cases in sorted(index.items()):
        ids = sorted(cases, key=case_key)
        total_cases += len(ids)
        behavior = Counter(cases[c].get("behavior") for c in ids)
        closing = Counter(cases[c].get("behaviorClose") for c in ids)
        print(f"autobahn: agent {agent!r}: {len(ids)} cases")
        print("  behavior:      " + ", ".join(f"{k} {v}" for k, v in sorted(behavior.items(), key=str)))
        print("  behaviorClose: " + ", ".join(f"{k} {v}" for k, v in sorted(closing.items(), key=str)))

        durations = {c: int(cases[c].get("duration") or 0) for c in ids}
        sections = Counter()
        for c, ms in durations.items():
            sections[c.split(".")[0]] += ms
        print(f"  duration: {sum(durations.values()) / 1000:.1f} s summed over cases "
              "(cases overlap when run in parallel); by section: "
              + ", ".join(f"{s}: {ms / 1000:.1f} s" for s, ms in sorted(sections.items(), key=lambda kv: case_key(kv[0]))))
        slowest = sorted(durations.items(), key=lambda kv: -kv[1])[:5]
        print("  slowest: " + ", ".join(f"{c} {ms} ms" for c, ms in slowest))

        failed = [c for c in ids
                  if cases[c].get("behavior") not in ACCEPTED
                  or cases[c].get("behaviorClose") not in ACCEPTED]
        for c in failed:
            entry = cases[c]
            report = details(outdir, entry)
            print(f"  FAIL {c}: behavior={entry.get('behavior')} "
                  f"behaviorClose={entry.get('behaviorClose')} "
                  f"remoteCloseCode={entry.get('remoteCloseCode')} "
                  f"({entry.get('duration')} ms)")
            if report.get("description"):
                print(f"       case:   {one_line(report['description'])}")
            for key in ("result", "resultClose"):
                if report.get(key):
                    print(f"       {key + ':':<7} {one_line(report[key])}")
            if entry.get("reportfile"):
                print(f"       report: {outdir / entry['reportfile']}")
        if failed:
            ok = False
            print(f"  {len(failed)} of {len(ids)} cases not OK/INFORMATIONAL")

    if total_cases == 0:
        print("autobahn: FAIL: the report has no cases")
        return False
    if expect_cases is not None and total_cases != expect_cases:
        print(f"autobahn: FAIL: {total_cases} cases reported, {expect_cases} expected "
              "(did the client stop early?)")
        ok = False
    print(f"autobahn: {'PASS' if ok else 'FAIL'}: {total_cases} cases in {outdir}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path, help="kosoku's -o directory")
    parser.add_argument("--expect-cases", type=int, default=None,
                        help="fail unless exactly this many cases were reported")
    parser.add_argument("--list-timed-out", action="store_true",
                        help="print the ids of the cases that failed only on the 20 s limit")
    parser.add_argument("--rerun", type=Path, default=None,
                        help="a report of those cases run again, beside DIR")
    args = parser.parse_args()
    if args.list_timed_out:
        # No report, no list: the check that follows says why.
        index = read_index(args.outdir, quiet=True) or {}
        print(" ".join(c for cases in index.values() for c, e in cases.items() if timed_out(args.outdir, e)))
        return 0
    return 0 if check(args.outdir, args.expect_cases, args.rerun) else 1


if __name__ == "__main__":
    sys.exit(main())

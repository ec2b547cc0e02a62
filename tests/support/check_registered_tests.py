#!/usr/bin/env python3
"""Fails when a test program would not run a test its sources declare.

A Qt Test function runs only if moc registered it: one that moc cannot see (inside an #ifdef whose macro moc was
not given, or under a plain `private:`) still compiles, and QTest then never runs it and reports nothing. This
lists every suite of a grouped test program (tests/support/test_main.cpp), reads the functions each suite declares
under `Q_SLOTS` in its source (those inside `#ifdef MACRO` only when the program is built with MACRO), and asks
the program which it will run (`-functions`).

usage: check_registered_tests.py PROGRAM TESTS_SOURCE_DIR [DEFINITION,...]
"""
import os
import pathlib
import re
import subprocess
import sys

SLOT_SECTION = re.compile(r"^\s*(private|public|protected)\s+(Q_SLOTS|slots)\s*:")
OTHER_SECTION = re.compile(r"^\s*(private|public|protected)\s*:|^};")
TEST_FUNCTION = re.compile(r"^\s+void (\w+)\(\)")
CONDITION = re.compile(r"^\s*#\s*(ifdef|ifndef|if|elif|else|endif)\b\s*(\w*)")
# Qt Test's own hooks and the data tables of data-driven tests are not listed by -functions.
NOT_LISTED = {"initTestCase", "cleanupTestCase", "init", "cleanup"}


def declared_tests(source: pathlib.Path, defined: set) -> set:
    names, in_slots = set(), False
    # One entry per open #if: [whether its current branch is compiled (None: a condition not followed here),
    # whether an earlier branch of it surely was].
    compiled = []
    for line in source.read_text(encoding="utf-8").splitlines():
        if condition := CONDITION.match(line):
            kind, macro = condition.groups()
            if kind in ("ifdef", "ifndef"):
                taken = (macro in defined) == (kind == "ifdef")
                compiled.append([taken, taken])
            elif kind == "if":
                compiled.append([None, False])
            elif kind in ("elif", "else") and compiled:
                branch = compiled[-1]
                if branch[0] is True:
                    branch[1] = True
                branch[0] = False if branch[1] else (None if kind == "elif" or branch[0] is None else True)
            elif kind == "endif" and compiled:
                compiled.pop()
            continue
        if any(branch[0] is False for branch in compiled):
            continue
        if SLOT_SECTION.match(line):
            in_slots = True
        elif OTHER_SECTION.match(line):
            in_slots = False
        elif in_slots and (match := TEST_FUNCTION.match(line)):
            name = match.group(1)
            if name not in NOT_LISTED and not name.endswith("_data"):
                names.add(name)
    return names


def run(program: str, *arguments: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([program, *arguments], capture_output=True, text=True, env=environment, timeout=120)


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    program, sources = sys.argv[1], pathlib.Path(sys.argv[2])
    # The program's compile definitions as CMake lists them: NAME or NAME=VALUE.
    defined = {d.split("=", 1)[0] for d in (sys.argv[3].split(",") if len(sys.argv) == 4 else []) if d}
    usage = run(program).stderr
    if "suites:" not in usage:
        print(f"{program} did not list its suites:\n{usage}", file=sys.stderr)
        return 1
    suites = usage.split("suites:", 1)[1].split()
    problems, counted = [], 0
    for suite in suites:
        found = sorted(sources.glob(f"*/{suite}.cpp"))
        if len(found) != 1:
            problems.append(f"{suite}: expected one source tests/*/{suite}.cpp, found {len(found)}")
            continue
        listing = run(program, suite, "-functions")
        will_run = {line.strip()[:-2] for line in listing.stdout.splitlines() if line.strip().endswith("()")}
        declared = declared_tests(found[0], defined)
        counted += len(declared)
        if not declared:
            problems.append(f"{suite}: no test functions found under Q_SLOTS in {found[0]}")
        for name in sorted(declared - will_run):
            problems.append(f"{suite}: {name}() is declared in {found[0].name} but {pathlib.Path(program).name} "
                            f"would not run it (not registered by moc)")
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{len(suites)} suites, {counted} test functions: every one registered")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks a unity build's batches for names that one file of a batch could
take from another (CMakeLists.txt, CAPSTAN_UNITY_BUILD).

A batch is one translation unit that includes several .cc files, so a
file-local helper (anonymous namespace or static) of one file is visible to
the files after it. Same-named helpers with the same parameters fail to
compile, but with other parameters one may silently become the better
overload for a call in another file. A file-scope `using namespace` leaks
the same way. This reads the batches CMake wrote under the build dir and
reports, per batch, file-local function names defined in more than one
file, and file-scope using-directives in any file but the batch's last.

Usage: check_unity_batches.py BUILD_DIR   (exit 1 when something is found)
"""
import pathlib
import re
import sys

INCLUDE = re.compile(r'^#include "([^"]+)"', re.M)
# A definition's head at column 0: return type(s) then name( ... ; the
# body's brace may follow on a later line.
DEF = re.compile(r'^(?:static\s+|inline\s+|constexpr\s+)*[A-Za-z_][\w:<>,*& ]*?[\s*&]([A-Za-z_]\w*)\s*\(')
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "operator", "TEST", "TEST_F", "TEST_P"}


def local_functions(text):
    """Names of functions defined in anonymous namespaces or as static, at column 0."""
    names = set()
    depth_anon = 0
    for line in text.splitlines():
        if re.match(r'^namespace\s*\{', line):
            depth_anon += 1
            continue
        if depth_anon and re.match(r'^\}\s*//\s*namespace\s*$', line):
            depth_anon -= 1
            continue
        if line.startswith((' ', '\t', '#', '/', '}')) or line.rstrip().endswith(';'):
            continue
        m = DEF.match(line)
        if not m or m.group(1) in KEYWORDS:
            continue
        if depth_anon or line.startswith('static '):
            names.add(m.group(1))
    return names


# Using-directives that may leak: literal suffixes only add operators; the
# chrono names are types and templates no helper of ours is named after;
# controllers' `deployment` namespace holds the Deployment helpers, whose
# names are distinct within the controllers.
ALLOWED_USING = {"std::chrono_literals", "std::literals", "std::chrono", "deployment"}


def using_directives(text):
    out = []
    for line in text.splitlines():
        m = re.match(r'^using namespace\s+([\w:]+)\s*;', line)
        if m and m.group(1) not in ALLOWED_USING:
            out.append(line)
    return out


def main():
    build = pathlib.Path(sys.argv[1])
    problems = []
    batches = sorted(build.glob('**/Unity/unity_*.cxx'))
    for batch in batches:
        files = INCLUDE.findall(batch.read_text())
        seen = {}
        for i, f in enumerate(files):
            text = pathlib.Path(f).read_text()
            for name in local_functions(text):
                seen.setdefault(name, []).append(f)
            if i + 1 < len(files):
                for u in using_directives(text):
                    problems.append(f'{batch.name} ({batch.parent.parent.name}): {f}: "{u}" leaks into the files after it')
        for name, where in sorted(seen.items()):
            if len(where) > 1:
                problems.append(f'{batch.name} ({batch.parent.parent.name}): file-local "{name}" in ' + ', '.join(where))
    for p in problems:
        print(p)
    print(f'{len(batches)} batches, {len(problems)} problems')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())

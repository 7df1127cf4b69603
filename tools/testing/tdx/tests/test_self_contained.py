# SPDX-License-Identifier: GPL-2.0-only
"""The repository is self-contained: every document a tracked file cites is in it.

Fails when a tracked text file
- points at the team's private notes outside the repository (a path into the
  sibling directory of the checkout where those notes live, or a
  "<notes directory>/<name>.md" path of those notes);
- names a markdown file that is not in the repository (looked up from the
  repository root, from the citing file's directory, and, for a bare name, as
  the name of any tracked file);
- cites a section (a section sign followed by "4", "2c", "4.13", ...) that the
  cited document does not have.

Which document a section citation means: the markdown file named right before
it; a bare one in a list that began with a document ("<doc> S1.1, S3") means
that document as long as no sentence ends in between; any other bare one means
the first document under docs/ with numbered sections that the file names,
the uAPI document (DEFAULT_DOC) if it names none, and the document itself
inside docs/.  Sections are the numbers of
a document's headings ("## 4.", "### 4.13", "### 2c.", "### 0.2").
"""

import os
import re
import subprocess
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
DEFAULT_DOC = "docs/kvm-tdx-uapi.md"

# Assembled from pieces so that this file does not match its own patterns.
_SHARED = "sha" + "red"
_REF = "refer" + "ence"
_OUTSIDE = re.compile(r"(?:\.\./)+%s\b|\b%s/%s\b|/work/%s\b|(?<![\w/])%s/[\w.-]+\.md\b"
                      % (_SHARED, _SHARED, _REF, _SHARED, _REF))
_URL = re.compile(r"[a-z]+://\S+")
_MD = re.compile(r"(?<![\w./-])((?:\.\.?/)*(?:[\w.-]+/)*[\w-][\w.-]*\.md)\b")
_SECTION = "\u00a7"
_MD_EXT = ".md"
_CITE = re.compile(r"(?:(?<![\w./-])((?:\.\.?/)*(?:[\w.-]+/)*[\w-][\w.-]*\.md)\s*)?%s(\d+[a-z]?(?:\.\d+)*)"
                   % _SECTION)
_SENTENCE_END = re.compile(r"\.\s|\n\s*\n|\"\"\"|\*/")
_HEADING = re.compile(r"^#{2,4}\s+(\d+[a-z]?(?:\.\d+)*)\.?(?:\s|$)", re.M)
LIST_REACH = 400        # how far back a bare "§n" may belong to a list that began with a document


def tracked_files():
    out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, check=True).stdout.decode()
    return [p for p in out.split("\0") if p]


def read_text(rel):
    try:
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            return f.read()
    except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
        return None


def sections(text):
    """The section numbers of a markdown document's headings, with every prefix ("4.13" -> "4")."""
    found = set()
    for number in _HEADING.findall(text):
        parts = number.split(".")
        for i in range(1, len(parts) + 1):
            found.add(".".join(parts[:i]))
    return found


class Repo:
    def __init__(self, files):
        self.files = set(files)
        self.basenames = {os.path.basename(f) for f in files}
        self._sections = {}

    def resolve(self, citing, name):
        """The tracked path `name` refers to from file `citing`, or None."""
        for base in (os.path.dirname(citing), ""):
            path = os.path.normpath(os.path.join(base, name))
            if path in self.files:
                return path
        if "/" not in name and name in self.basenames:
            return name
        return None

    def sections_of(self, path):
        if path not in self._sections:
            self._sections[path] = sections(read_text(path) or "")
        return self._sections[path]


def problems(repo, rel, text):
    """Every outside citation, missing document and missing section in one file, as strings."""
    found = []
    clean = _URL.sub(lambda m: " " * len(m.group()), text)

    def where(pos):
        return "%s:%d" % (rel, text.count("\n", 0, pos) + 1)

    for m in _OUTSIDE.finditer(clean):
        found.append("%s: cites a document outside the repository: %r" % (where(m.start()), m.group()))

    for m in _MD.finditer(clean):
        if repo.resolve(rel, m.group(1)) is None:
            found.append("%s: %s is not in the repository" % (where(m.start()), m.group(1)))

    named = [repo.resolve(rel, m.group(1)) for m in _MD.finditer(clean)]
    numbered = [p for p in named if p and p.startswith("docs/") and repo.sections_of(p)]
    if rel.startswith("docs/") and rel.endswith(".md"):
        default = rel
    else:
        default = numbered[0] if numbered else DEFAULT_DOC

    last_doc, last_end = None, -1
    for m in _CITE.finditer(clean):
        name, number = m.group(1), m.group(2)
        if name:
            doc = repo.resolve(rel, name)
            if doc is None:
                continue                        # already reported as a missing document
            last_doc, last_end = doc, m.end()
        elif (last_doc and m.start() - last_end <= LIST_REACH
              and not _SENTENCE_END.search(clean, last_end, m.start())):
            doc = last_doc
            last_end = m.end()
        else:
            doc = default
        if not doc.endswith(".md"):
            continue
        if number not in repo.sections_of(doc):
            found.append("%s: %s%s is not a section of %s" % (where(m.start()), _SECTION, number, doc))
    return found


class SelfContained(unittest.TestCase):
    def setUp(self):
        try:
            self.files = tracked_files()
        except (OSError, subprocess.CalledProcessError):
            self.skipTest("not a git checkout")
        self.repo = Repo(self.files)

    def test_tracked_files_cite_only_what_the_repository_has(self):
        found = []
        for rel in sorted(self.files):
            text = read_text(rel)
            if text is not None:
                found.extend(problems(self.repo, rel, text))
        self.assertEqual(found, [], "\n" + "\n".join(found))

    # -- the checker itself, at its edges --

    def check(self, text, rel="tools/x.py"):
        return problems(self.repo, rel, text)

    def test_outside_paths_are_refused(self):
        for text in ("see ../%s/DESIGN%s" % (_SHARED, _MD_EXT),
                     "(%s/%s/kvm-tdx-uapi%s)" % (_SHARED, _REF, _MD_EXT),
                     "(%s/anchor-tests%s \u00a71)" % (_REF, _MD_EXT), "/work/%s/x" % _SHARED):
            with self.subTest(text=text):
                self.assertTrue(any("outside" in p for p in self.check(text)), self.check(text))

    def test_kernel_paths_with_shared_are_fine(self):
        self.assertEqual(self.check("arch/x86/include/asm/%s/tdx.h" % _SHARED), [])

    def test_missing_document_is_refused(self):
        missing = "docs/nonexistent" + _MD_EXT
        self.assertEqual(self.check("see " + missing),
                         ["tools/x.py:1: %s is not in the repository" % missing])
        self.assertEqual(self.check("see docs/kvm-tdx-uapi.md and README.md"), [])

    def test_urls_are_not_documents(self):
        self.assertEqual(self.check("https://example.org/a/README.md"), [])

    def test_sections_at_their_edges(self):
        self.assertEqual(self.check("docs/kvm-tdx-uapi.md \u00a74.15"), [])           # last of §4
        self.assertEqual(len(self.check("docs/kvm-tdx-uapi.md \u00a74.16")), 1)      # first missing
        self.assertEqual(self.check("docs/c-selftests.md \u00a72d"), [])
        self.assertEqual(len(self.check("docs/c-selftests.md \u00a72e")), 1)
        self.assertEqual(self.check("docs/host-kvm.md \u00a70.4"), [])
        self.assertEqual(len(self.check("docs/host-kvm.md \u00a70.5")), 1)

    def test_bare_section_resolution(self):
        # a list that began with a document keeps it ...
        self.assertEqual(self.check("(docs/internals.md \u00a71, docs/host-kvm.md \u00a70.1, \u00a70.4)"), [])
        # ... until the sentence ends: then the file's first document is meant
        self.assertEqual(len(self.check("docs/ktap-kselftest.md \u00a71. Then \u00a74.15.")), 1)
        self.assertEqual(self.check("docs/kvm-tdx-uapi.md \u00a71. Then \u00a74.15."), [])
        # with no document cited at all, bare sections are docs/kvm-tdx-uapi.md's
        self.assertEqual(self.check("\u00a74.15"), [])
        self.assertEqual(len(self.check("\u00a72c")), 1)
        # inside a document, bare sections are its own
        self.assertEqual(self.check("\u00a72c", rel="docs/c-selftests.md"), [])
        self.assertEqual(len(self.check("\u00a74.15", rel="docs/c-selftests.md")), 1)


if __name__ == "__main__":
    unittest.main()

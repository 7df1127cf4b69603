# SPDX-License-Identifier: GPL-2.0-only
"""A checker for JUnit XML by the rules of the Jenkins xunit plugin's schema,
plus what GitLab's JUnit reader relies on.

No XSD validator is installable offline, so the schema's rules
(jenkinsci/xunit-plugin, src/main/resources/.../xsd/junit-10.xsd) are written
down here as code of our own:

- <testsuites>: attributes name, time, tests, failures, errors only (no
  `skipped`); children: <testsuite> only.
- <testsuite>: required name, tests, failures, errors; optional group, time,
  skipped, timestamp, hostname, id, package, file, log, url; children in any
  order: testsuite, properties, testcase, system-out, system-err.
- <testcase>: required name; optional time, classname, group; children in
  any order: skipped, error, failure, rerunFailure, rerunError, flakyFailure,
  flakyError, system-out, system-err.
- <failure>, <error>, <skipped>: attributes type and message only; text allowed.
- <property>: name and value, both required; <system-out>/<system-err>: text only.
- `time` of a testsuite or testsuites: the SUREFIRE_TIME pattern
  `(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\\.[0-9]*)?`.

GitLab's reader (and the Jenkins junit plugin) additionally need, for a
report to read well: every testcase with classname and a numeric time, at most
one of failure/error/skipped per testcase, a message on each of those, and
counts on each testsuite that match its testcases.

check(bytes) -> [problem]; an empty list is a valid report.
"""

import re
import xml.etree.ElementTree as ET

SUREFIRE_TIME = re.compile(r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?$")
OUTCOMES = ("skipped", "error", "failure")
RERUN = ("rerunFailure", "rerunError", "flakyFailure", "flakyError")

# element: (required attributes, optional attributes, allowed children or None for text only)
RULES = {
    "testsuites": ((), ("name", "time", "tests", "failures", "errors"), ("testsuite",)),
    "testsuite": (("name", "tests", "failures", "errors"),
                  ("group", "time", "skipped", "timestamp", "hostname", "id", "package", "file", "log", "url"),
                  ("testsuite", "properties", "testcase", "system-out", "system-err")),
    "testcase": (("name",), ("time", "classname", "group"), OUTCOMES + RERUN + ("system-out", "system-err")),
    "failure": ((), ("type", "message"), None),
    "error": ((), ("type", "message"), None),
    "skipped": ((), ("type", "message"), None),
    "properties": ((), (), ("property",)),
    "property": (("name", "value"), (), ()),
    "system-out": ((), (), None),
    "system-err": ((), (), None),
}
for _r in RERUN:
    RULES[_r] = (("type",), ("message",), ("stackTrace", "system-out", "system-err"))
RULES["stackTrace"] = ((), (), None)


def _element(el, path, problems):
    rule = RULES.get(el.tag)
    if rule is None:
        problems.append("%s: unknown element <%s>" % (path, el.tag))
        return
    required, optional, children = rule
    for a in required:
        if a not in el.attrib:
            problems.append("%s: <%s> lacks required attribute %s" % (path, el.tag, a))
    for a in el.attrib:
        if a not in required and a not in optional:
            problems.append("%s: <%s> may not carry attribute %s" % (path, el.tag, a))
    if el.tag in ("testsuite", "testsuites") and "time" in el.attrib and not SUREFIRE_TIME.match(el.get("time")):
        problems.append("%s: time %r is not a SUREFIRE_TIME" % (path, el.get("time")))
    for i, child in enumerate(el):
        if children is None or child.tag not in children:
            problems.append("%s: <%s> may not contain <%s>" % (path, el.tag, child.tag))
        _element(child, "%s/%s[%d]" % (path, child.tag, i), problems)


def _gitlab(root, problems):
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        count = {k: 0 for k in OUTCOMES}
        for case in cases:
            where = "testcase %s.%s" % (case.get("classname"), case.get("name"))
            if not case.get("classname"):
                problems.append("%s: no classname" % where)
            try:
                float(case.get("time", ""))
            except ValueError:
                problems.append("%s: no numeric time" % where)
            found = [c for c in case if c.tag in OUTCOMES]
            if len(found) > 1:
                problems.append("%s: %d outcomes" % (where, len(found)))
            for c in found:
                count[c.tag] += 1
                if not c.get("message"):
                    problems.append("%s: <%s> without a message" % (where, c.tag))
        want = {"tests": len(cases), "failures": count["failure"], "errors": count["error"],
                "skipped": count["skipped"]}
        for k, v in want.items():
            if suite.get(k) is not None and suite.get(k) != str(v):
                problems.append("testsuite %s: %s=%s, its testcases say %d" % (suite.get("name"), k, suite.get(k), v))


def check(data):
    """Problems of a JUnit report (bytes or str); [] when valid."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        return ["not well-formed XML: %s" % e]
    problems = []
    if root.tag != "testsuites":
        problems.append("root element is <%s>, not <testsuites>" % root.tag)
    _element(root, root.tag, problems)
    _gitlab(root, problems)
    return problems

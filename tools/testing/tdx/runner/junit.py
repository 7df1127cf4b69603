# SPDX-License-Identifier: GPL-2.0-only
"""The JUnit XML report (--junit FILE).

Read by Jenkins (junit and xunit plugins) and GitLab; the shape follows the
xunit plugin's JUnit schema (jenkinsci/xunit-plugin, junit-10.xsd), the
strictest of them:

    <testsuites name tests failures errors time>        (no `skipped` here)
      <testsuite name tests failures errors skipped time timestamp hostname>
        <testcase classname="<module>" name="<case>" time="0.123">
          <failure message="first line of the assertion" type="fail">text</failure>
          | <error message="TIMEOUT 3 seconds" type="timeout">...</error>
          | <skipped message="reason"/>
        <system-out>the module's output</system-out>

One testsuite per module, one testcase per case, so a case reads as
`<module>.<case>` (classname.name), the name the KTAP document gives it.  A
module that ended badly with no failed case to carry it (crash after its last
result, import error, exit code) gets one more testcase named after the module:
the same counting as the summary table and the KTAP document
(Outcome.counts).  Case times are the time between a case's result line and
the one before it.  Every text is made valid XML 1.0 whatever bytes a module
printed: characters XML cannot hold become `\\xNN` escapes.
"""

import re
import socket
import time
import xml.etree.ElementTree as ET

from tdx.lib import ktap
from tdx.runner.outcome import FAILED

# XML 1.0 Char production: everything else cannot appear in a document, not even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MESSAGE_LIMIT = 200


def xml_text(text):
    return _NOT_XML.sub(lambda m: "\\x%02x" % ord(m.group()) if ord(m.group()) < 0x100
                        else "\\u%04x" % ord(m.group()), str(text))


def _seconds(value):
    # xunit's SUREFIRE_TIME: digits, a dot, digits.
    return "%.3f" % max(0.0, value)


def verdict(status, reason):
    """`TIMEOUT 3 seconds`, `ERROR planned 3, ran 1`, `exit=-11 (SIGSEGV)`: the
    result line's directive and reason, the words a reader looks for."""
    line = ktap.result_line(1, "x", status, reason)
    _, _, data = line.partition(" # ")
    return data or status


def first_error_line(diags):
    """The exception line of the last traceback in a case's diagnostics (its
    first line: AssertionError messages may go on), else the first line."""
    lines = [d for d in diags if d.strip()]
    starts = [i for i, l in enumerate(lines) if l.startswith("Traceback (most recent call last)")]
    if starts:
        for line in lines[starts[-1] + 1:]:
            if not line.startswith((" ", "\t")):
                return line
    return lines[0] if lines else None


def _message(text):
    text = " ".join(str(text).split())
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT - 3] + "..."


def _case(suite, module, name, seconds):
    return ET.SubElement(suite, "testcase", classname=xml_text(module), name=xml_text(name),
                         time=_seconds(seconds))


def _outcome_element(case, status, reason, text, message):
    if status == ktap.SKIP:
        ET.SubElement(case, "skipped", message=xml_text(_message(reason or "skipped")))
        return
    if status in (ktap.ERROR, ktap.TIMEOUT):
        tag = "error"
    elif status in FAILED:
        tag = "failure"
    else:
        return
    el = ET.SubElement(case, tag, message=xml_text(_message(message)), type=status)
    if text:
        el.text = xml_text(text)


def build(outcomes, started, hostname=None):
    """The report as an ElementTree root element."""
    root = ET.Element("testsuites", name="tdx-selftests")
    grand = dict(tests=0, failures=0, errors=0)
    hostname = hostname or socket.gethostname()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started))
    for o in outcomes:
        suite = ET.SubElement(root, "testsuite", name=xml_text(o.name))
        prefix = o.name + "."
        for leaf in o.leaves:
            name = leaf.name[len(prefix):] if leaf.name.startswith(prefix) else leaf.name
            case = _case(suite, o.name, name, leaf.seconds)
            if leaf.status in (ktap.FAIL, ktap.XPASS):
                message = first_error_line(leaf.diags) or verdict(leaf.status, leaf.reason)
            else:
                message = verdict(leaf.status, leaf.reason)
            _outcome_element(case, leaf.status, leaf.reason, "\n".join(leaf.diags), message)
        if o.counts_itself:
            # The module as a whole ended badly (or skipped): an error, not an assertion.
            status = ktap.ERROR if o.status in FAILED else o.status
            case = _case(suite, o.name, o.name, o.job.seconds)
            _outcome_element(case, status, o.reason, "\n".join(o.notes), verdict(o.status, o.reason))
        # Counted from the elements: TIMEOUT counts as fail in KTAP's Totals and
        # as an <error> here; failed = failures + errors is the same number.
        n = dict(tests=len(suite.findall("testcase")), failures=len(suite.findall("testcase/failure")),
                 errors=len(suite.findall("testcase/error")), skipped=len(suite.findall("testcase/skipped")))
        out = "\n".join(t for _, t in o.job.output())
        if out:
            ET.SubElement(suite, "system-out").text = xml_text(out)
        for k in ("tests", "failures", "errors", "skipped"):
            suite.set(k, str(n[k]))
        suite.set("time", _seconds(o.job.seconds))
        suite.set("timestamp", stamp)
        suite.set("hostname", xml_text(hostname))
        for k in grand:
            grand[k] += n[k]
    for k, v in grand.items():
        root.set(k, str(v))
    root.set("time", _seconds(time.time() - started))
    return root


def write_junit(stream, outcomes, started):
    """Write the report to a binary stream (opened before the run, so that an
    unwritable path is a usage error, not a lost report)."""
    tree = ET.ElementTree(build(outcomes, started))
    if hasattr(ET, "indent"):
        ET.indent(tree)
    tree.write(stream, encoding="utf-8", xml_declaration=True)

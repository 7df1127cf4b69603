# SPDX-License-Identifier: GPL-2.0-only
"""The JUnit XML report (--junit FILE)."""

import time

from tdx.lib import ktap
from tdx.runner.document import COLLECTION
from tdx.runner.outcome import FAILED


def write_junit(path, outcomes, started):
    import socket
    import xml.etree.ElementTree as ET
    root = ET.Element("testsuites", name="tdx-selftests")
    grand = dict(tests=0, failures=0, errors=0, skipped=0)
    for o in outcomes:
        suite = ET.SubElement(root, "testsuite", name=o.name, hostname=socket.gethostname(),
                              timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
                              time="%.3f" % o.job.seconds)
        n = dict(tests=0, failures=0, errors=0, skipped=0)
        for leaf in (o.child.leaves if o.child else []):
            prefix = o.name + "."
            case = ET.SubElement(suite, "testcase", classname="%s.%s" % (COLLECTION, o.name),
                                 name=leaf.name[len(prefix):] if leaf.name.startswith(prefix) else leaf.name)
            n["tests"] += 1
            text = "\n".join(leaf.diags)
            if leaf.status == ktap.SKIP:
                n["skipped"] += 1
                ET.SubElement(case, "skipped", message=leaf.reason or "")
            elif leaf.status == ktap.ERROR:
                n["errors"] += 1
                ET.SubElement(case, "error", message=leaf.reason or "error").text = text
            elif leaf.status in FAILED:
                n["failures"] += 1
                ET.SubElement(case, "failure", message=leaf.reason or leaf.status).text = text
        if o.status not in (ktap.PASS, ktap.SKIP) and o.notes:
            # The module as a whole ended badly: one test case carries that.
            case = ET.SubElement(suite, "testcase", classname="%s.%s" % (COLLECTION, o.name), name=o.name)
            n["tests"] += 1
            n["errors"] += 1
            ET.SubElement(case, "error", message=o.reason or o.status).text = "\n".join(o.notes)
        elif o.status == ktap.SKIP and not (o.child and o.child.leaves):
            case = ET.SubElement(suite, "testcase", classname="%s.%s" % (COLLECTION, o.name), name=o.name)
            n["tests"] += 1
            n["skipped"] += 1
            ET.SubElement(case, "skipped", message=o.reason or "")
        out = "\n".join(t for _, t in o.job.output())
        if out:
            ET.SubElement(suite, "system-out").text = out
        for k, v in n.items():
            suite.set(k, str(v))
            grand[k] += v
    for k, v in grand.items():
        root.set(k, str(v))
    root.set("time", "%.3f" % (time.time() - started))
    tree = ET.ElementTree(root)
    if hasattr(ET, "indent"):
        ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)

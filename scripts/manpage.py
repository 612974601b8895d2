#!/usr/bin/env python3
"""Writes roost's manual pages from the programs' own --help texts, so that
a page and its program never disagree: roost(1), with a section for each
command (`roost help COMMAND`), and one page for each process it runs.

    manpage.py BINDIR OUTDIR VERSION
"""
import os
import re
import subprocess
import sys

DAEMONS = {
    "roost-writer": "the one process that changes an instance: it drains the ingest ring, "
                    "logs, applies and publishes",
    "roost-broker": "accepts clients' requests and copies validated batches into the "
                    "ingest ring",
    "roost-reader": "serves searches from the index copies the writer publishes",
}


def helptext(argv):
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=30)
    return out.stdout.rstrip("\n")


def verbatim(text):
    """text as roff shows it, line for line."""
    lines = []
    for line in text.replace("\\", "\\e").splitlines():
        lines.append("\\&" + line if line.startswith((".", "'")) else line)
    return [".nf"] + lines + [".fi"]


def page(name, summary, version, sections):
    out = ['.TH %s 1 "" "roost %s" "roost manual"' % (name.upper(), version),
           ".SH NAME", "%s \\- %s" % (name, summary)]
    for title, body in sections:
        out.append(".SH " + title)
        out += body
    return "\n".join(out) + "\n"


def commands(top):
    """The commands `roost --help` lists: an indented word, then its summary."""
    return re.findall(r"^  ([a-z]+) +\S", top, re.M)


def main(bindir, outdir, version):
    os.makedirs(outdir, exist_ok=True)
    roost = os.path.join(bindir, "roost")
    top = helptext([roost, "--help"])
    body = []
    for cmd in commands(top):
        body += [".SS " + cmd] + verbatim(helptext([roost, "help", cmd]))
    others = ", ".join("\\fB%s\\fP(1)" % d for d in sorted(DAEMONS))
    pages = {"roost": page("roost", "run and use a roost vector memory instance", version, [
        ("SYNOPSIS", verbatim(top.splitlines()[0])),
        ("DESCRIPTION", verbatim("\n".join(top.splitlines()[1:]))),
        ("COMMANDS", body),
        ("SEE ALSO", [others])])}
    for daemon, summary in DAEMONS.items():
        pages[daemon] = page(daemon, summary, version, [
            ("SYNOPSIS", verbatim(helptext([os.path.join(bindir, daemon), "--help"]))),
            ("DESCRIPTION", ["\\fBroost up\\fP starts and supervises it; its options are "
                             "passed with \\fB--%s-arg\\fP." % daemon.split("-")[1]]),
            ("SEE ALSO", ["\\fBroost\\fP(1)"])])
    for name, text in pages.items():
        with open(os.path.join(outdir, name + ".1"), "w") as f:
            f.write(text)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])

#!/usr/bin/python3
"""
cap2c.py - prints the response to one command of a capture (tests/tools/capture.py format) as
the step table test_resp.c uses: {'S'|'C', "hex", rc}. The command is picked by its number
among the capture's commands (client packets with sequence id 0), counting from 0.

Usage: cap2c.py CAPFILE N
"""
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from capture import read_cap  # noqa: E402


def main():
    recs = read_cap(sys.argv[1])
    want = int(sys.argv[2])
    cmds = [i for i, (d, s, p) in enumerate(recs) if d == "C" and s == 0 and i > 1]
    i = cmds[want]
    end = cmds[want + 1] if want + 1 < len(cmds) else len(recs)
    print("/* %s command %d: %s */" % (sys.argv[1].rsplit("/", 1)[-1], want,
                                       recs[i][2][:40]))
    steps = recs[i + 1:end]
    for k, (d, s, p) in enumerate(steps):
        rc = "OK" if k == len(steps) - 1 else "AG"
        print('{\'%s\', "%s", %s},' % (d, p.hex(), rc if d == "S" else "0"))


if __name__ == "__main__":
    main()

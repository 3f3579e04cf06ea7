#!/usr/bin/env python3
"""Generates lib/tokenizer/unicode_tables.c from the Unicode Character Database.

Usage (from the repository root; Debian's `unicode-data` package installs the
UCD files under /usr/share/unicode):

    python3 third_party/unicode/gen_unicode_tables.py UCD_DIR \
        > lib/tokenizer/unicode_tables.c
    python3 third_party/unicode/gen_unicode_tables.py UCD_DIR --nfc-tests \
        > third_party/unicode/nfc_tests.txt

Reads UnicodeData.txt (General_Category, Canonical_Combining_Class, canonical
decompositions), PropList.txt (White_Space) and DerivedNormalizationProps.txt
(Full_Composition_Exclusion, NFC_Quick_Check) and checks that they are all of
the expected version (15.0.0). With --nfc-tests it instead writes the
NormalizationTest.txt(.bz2) cases that exercise NFC (see README.md).

The output is deterministic: the same UCD gives byte-identical C.
"""
import bz2
import os
import sys

EXPECTED_VERSION = "15.0.0"
BLOCK_SHIFT = 7  # 128 code points per second-stage block
BLOCK = 1 << BLOCK_SHIFT
NCP = 0x110000

# property bits (must match lib/tokenizer/unicode.h)
P_CCC_MASK = 0xFF
P_LETTER = 1 << 8  # \p{L}: Lu Ll Lt Lm Lo
P_NUMBER = 1 << 9  # \p{N}: Nd Nl No
P_SPACE = 1 << 10  # White_Space
P_NFC_QC = 1 << 11  # NFC_Quick_Check is No or Maybe
P_DECOMP = 1 << 12  # has a canonical decomposition (Hangul excluded)

SBASE, LBASE, VBASE, TBASE = 0xAC00, 0x1100, 0x1161, 0x11A7
LCOUNT, VCOUNT, TCOUNT = 19, 21, 28
SCOUNT = LCOUNT * VCOUNT * TCOUNT


def die(msg):
    sys.stderr.write("gen_unicode_tables: %s\n" % msg)
    sys.exit(1)


def open_ucd(d, name):
    p = os.path.join(d, name)
    if os.path.exists(p):
        return open(p, encoding="utf-8")
    if os.path.exists(p + ".bz2"):
        return bz2.open(p + ".bz2", "rt", encoding="utf-8")
    die("missing %s in %s" % (name, d))


def check_version(d, name):
    with open_ucd(d, name) as f:
        first = f.readline()
    stem = name[:-4]
    want = "# %s-%s.txt" % (stem, EXPECTED_VERSION)
    if not first.startswith(want):
        die("%s: expected header %r, got %r" % (name, want, first.strip()))


def parse_ranges(d, name, wanted):
    """Yields (first, last, value_fields) for lines of a property file whose
    first value field is in `wanted`."""
    with open_ucd(d, name) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = [x.strip() for x in line.split(";")]
            if fields[1] not in wanted:
                continue
            r = fields[0].split("..")
            lo = int(r[0], 16)
            hi = int(r[-1], 16)
            yield lo, hi, fields[1:]


def load(d):
    for n in ("PropList.txt", "DerivedNormalizationProps.txt"):
        check_version(d, n)
    gc = {}
    ccc = {}
    decomp = {}  # canonical, one level
    with open_ucd(d, "UnicodeData.txt") as f:
        range_start = None
        for line in f:
            fl = line.rstrip("\n").split(";")
            cp = int(fl[0], 16)
            name = fl[1]
            if name.endswith(", First>"):
                range_start = cp
                continue
            if name.endswith(", Last>"):
                for c in range(range_start, cp + 1):
                    gc[c] = fl[2]
                    if int(fl[3]):
                        ccc[c] = int(fl[3])
                range_start = None
                continue
            gc[cp] = fl[2]
            if int(fl[3]):
                ccc[cp] = int(fl[3])
            if fl[5] and not fl[5].startswith("<"):
                decomp[cp] = [int(x, 16) for x in fl[5].split()]
    space = set()
    for lo, hi, _ in parse_ranges(d, "PropList.txt", {"White_Space"}):
        space.update(range(lo, hi + 1))
    excl = set()
    for lo, hi, _ in parse_ranges(d, "DerivedNormalizationProps.txt", {"Full_Composition_Exclusion"}):
        excl.update(range(lo, hi + 1))
    nfc_qc = set()
    for lo, hi, v in parse_ranges(d, "DerivedNormalizationProps.txt", {"NFC_QC"}):
        if v[1] in ("N", "M"):
            nfc_qc.update(range(lo, hi + 1))
    return gc, ccc, decomp, space, excl, nfc_qc


def full_decomp(cp, decomp):
    if cp not in decomp:
        return [cp]
    out = []
    for c in decomp[cp]:
        out.extend(full_decomp(c, decomp))
    return out


def c_array(ctype, name, values, per_line, fmt):
    lines = ["const %s %s[%d] = {" % (ctype, name, len(values))]
    for i in range(0, len(values), per_line):
        lines.append("    " + ", ".join(fmt % v for v in values[i:i + per_line]) + ",")
    lines.append("};")
    return "\n".join(lines)


def gen_tables(d):
    gc, ccc, decomp, space, excl, nfc_qc = load(d)
    props = [0] * NCP
    for cp, cat in gc.items():
        v = ccc.get(cp, 0)
        if cat in ("Lu", "Ll", "Lt", "Lm", "Lo"):
            v |= P_LETTER
        if cat in ("Nd", "Nl", "No"):
            v |= P_NUMBER
        props[cp] = v
    for cp in space:
        props[cp] |= P_SPACE
    for cp in nfc_qc:
        props[cp] |= P_NFC_QC
    for cp in decomp:
        props[cp] |= P_DECOMP
    # two-stage table with deduplicated blocks
    blocks = {}
    stage1 = []
    stage2 = []
    for b in range(NCP >> BLOCK_SHIFT):
        blk = tuple(props[b << BLOCK_SHIFT:(b + 1) << BLOCK_SHIFT])
        if blk not in blocks:
            blocks[blk] = len(blocks)
            stage2.extend(blk)
        stage1.append(blocks[blk])
    if len(blocks) > 65535:
        die("too many blocks")
    # full canonical decompositions
    dkeys = sorted(decomp)
    ddata = []
    dentries = []
    max_len = 0
    for cp in dkeys:
        fd = full_decomp(cp, decomp)
        max_len = max(max_len, len(fd))
        dentries.append((cp, len(ddata), len(fd)))
        ddata.extend(fd)
    if len(ddata) >= 1 << 16 or max_len > 15:
        die("decomposition table too large")
    # Hangul syllables decompose to at most 3 jamo
    max_len = max(max_len, 3)
    # primary composites: two-element canonical decompositions not excluded
    comps = []
    for cp, dd in decomp.items():
        if len(dd) == 2 and cp not in excl:
            comps.append(((dd[0] << 21) | dd[1], cp))
    comps.sort()
    # the worst UTF-8 growth of a single code point under NFC (for documentation)
    out = []
    out.append("/* Generated by third_party/unicode/gen_unicode_tables.py from the Unicode")
    out.append(" * Character Database %s (UnicodeData.txt, PropList.txt," % EXPECTED_VERSION)
    out.append(" * DerivedNormalizationProps.txt). Do not edit; regenerate instead.")
    out.append(" * Unicode data: Copyright (c) Unicode, Inc., see third_party/unicode/README.md")
    out.append(" * for the licence. */")
    out.append('#include "tokenizer/unicode.h"')
    out.append("")
    out.append('const char uc_version[] = "%s";' % EXPECTED_VERSION)
    out.append("")
    out.append("/* property of code point c: uc_stage2[(uc_stage1[c >> %d] << %d) | (c & %d)] */"
               % (BLOCK_SHIFT, BLOCK_SHIFT, BLOCK - 1))
    out.append(c_array("uint16_t", "uc_stage1", stage1, 16, "%d"))
    out.append("")
    out.append(c_array("uint16_t", "uc_stage2", stage2, 12, "0x%04x"))
    out.append("")
    out.append("/* full canonical decompositions (Hangul syllables excluded), sorted by code point */")
    out.append(c_array("uint32_t", "uc_decomp_cp", [e[0] for e in dentries], 10, "0x%05x"))
    out.append("")
    out.append(c_array("uint16_t", "uc_decomp_pos", [(e[1] << 4) | e[2] for e in dentries], 12, "0x%04x"))
    out.append("")
    out.append(c_array("uint32_t", "uc_decomp_data", ddata, 10, "0x%05x"))
    out.append("")
    out.append("/* primary composites: key (first << 21 | second), sorted, and the composite */")
    out.append(c_array("uint64_t", "uc_comp_key", [k for k, _ in comps], 4, "0x%011xull"))
    out.append("")
    out.append(c_array("uint32_t", "uc_comp_val", [v for _, v in comps], 10, "0x%05x"))
    out.append("")
    out.append("const size_t uc_n_decomp = %d;" % len(dentries))
    out.append("const size_t uc_n_comp = %d;" % len(comps))
    out.append("")
    out.append("/* stage2 blocks: %d; longest full decomposition: %d code points */" % (len(blocks), max_len))
    sys.stdout.write("\n".join(out) + "\n")
    sys.stderr.write("blocks %d, decompositions %d (%d cps, longest %d), composites %d\n"
                     % (len(blocks), len(dentries), len(ddata), max_len, len(comps)))
    if max_len != 4:
        sys.stderr.write("note: UC_MAX_DECOMP in unicode.h must be >= %d\n" % max_len)


def gen_nfc_tests(d):
    """Writes `source;nfc` lines (hex code points separated by spaces) for every
    NormalizationTest case of parts 0, 2 and 3, and for the part-1 cases whose
    NFC differs from the source."""
    check_version(d, "NormalizationTest.txt")
    out = ["# NFC cases from NormalizationTest-%s.txt, extracted by" % EXPECTED_VERSION,
           "# third_party/unicode/gen_unicode_tables.py --nfc-tests (see README.md).",
           "# Unicode data: Copyright (c) Unicode, Inc.; licence in README.md.",
           "# Fields: source;NFC(source), code points in hex."]
    part = None
    with open_ucd(d, "NormalizationTest.txt") as f:
        for line in f:
            if line.startswith("@Part"):
                part = line.split()[0]
                continue
            s = line.split("#", 1)[0].strip()
            if not s:
                continue
            cols = s.split(";")
            src, nfc = cols[0].strip(), cols[1].strip()
            if part == "@Part1" and src == nfc:
                continue
            out.append("%s;%s" % (src, nfc))
    sys.stdout.write("\n".join(out) + "\n")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        die("usage: gen_unicode_tables.py UCD_DIR [--nfc-tests] > output")
    if "--nfc-tests" in sys.argv[1:]:
        gen_nfc_tests(args[0])
    else:
        gen_tables(args[0])


if __name__ == "__main__":
    main()

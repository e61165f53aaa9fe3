#!/usr/bin/env python3
"""Reference values for ts_chi2_sf: scipy.stats.chi2.sf(x, dof) on a grid.

Writes tests/data/chi2_sf.txt ("x dof sf" per line, %.17g) for tests/test_generate.c.
Run with Debian's python3-scipy:  /usr/bin/python3 tools/gen_chi2_reference.py
"""
import os
from scipy.stats import chi2

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "..", "tests", "data", "chi2_sf.txt")
rows = []
for dof in (1, 2, 3, 4, 5, 9, 10, 19, 49, 100, 999):
    for x in (0.001, 0.1, 0.5, 1.0, 2.5, 4.0, 7.8, 15.0, 30.0, 60.0, 120.0, 300.0, 1100.0):
        rows.append((x, dof, chi2.sf(x, dof)))
with open(out, "w") as f:
    f.write("# x dof sf  -- scipy.stats.chi2.sf, written by tools/gen_chi2_reference.py\n")
    for x, dof, sf in rows:
        f.write("%.17g %d %.17g\n" % (x, dof, sf))
print("wrote", len(rows), "rows to", out)

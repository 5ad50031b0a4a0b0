#===- check-calibrate-clip.py - checks a clipping calibration result -----===#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
# Usage: check-calibrate-clip.py OUT.mlir METHOD. On calibrate-model.mlir with
# the outlier data of qopt-calibrate-methods.test: probe "x" must be clipped
# below its abs_max (100) but keep most of [-1, 1]; probe "c" (constant 2.5)
# must have min = max = 2.5.
#===----------------------------------------------------------------------===#
import re
import sys

text = open(sys.argv[1]).read()
method = sys.argv[2]


def stats(name):
    m = re.search(r'name = "%s", stats = \{([^}]*)\}' % name, text)
    if not m:
        sys.exit("no stats on probe %s" % name)
    d = dict(re.findall(r"(\w+) = ([^,]+?)(?: : \w+)?(?:,|$)", m.group(1)))
    return d


x = stats("x")
assert x["method"] == '"%s"' % method, x
lo, hi, amax = float(x["min"]), float(x["max"]), float(x["abs_max"])
assert amax == 100.0, x
assert 0.5 < hi < amax, "max %g not clipped below abs_max %g" % (hi, amax)
assert -1.0 <= lo < -0.5, "min %g" % lo
c = stats("c")
assert float(c["min"]) == float(c["max"]) == 2.5, c
print("ok: %s clips [%g, %g] of abs_max %g" % (method, lo, hi, amax))

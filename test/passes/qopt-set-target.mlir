// RUN: qopt %s --qopt-set-target | FileCheck %s --check-prefix=HOST
// RUN: qopt %s --qopt-set-target=target=cpu:avx2 2>/dev/null | FileCheck %s --check-prefix=AVX2
// RUN: qopt %s --qopt-set-target=target=cpu:generic | FileCheck %s --check-prefix=GENERIC
// RUN: qopt %s --qopt-set-target=target=cpu:avx512-vnni 2>/dev/null | FileCheck %s --check-prefix=VNNI
// RUN: qopt %s --qopt-set-target=target=cpu:generic --qopt-set-target=target=cpu:avx2 2>/dev/null | FileCheck %s --check-prefix=AVX2
// RUN: env QOPT_HOST_TARGET=cpu:generic qopt %s --qopt-set-target | FileCheck %s --check-prefix=GENERIC
// RUN: env QOPT_HOST_TARGET=cpu:avx2 qopt %s --qopt-set-target=target=cpu:avx512-vnni 2>&1 >/dev/null | FileCheck %s --check-prefix=CROSS
// RUN: env QOPT_HOST_TARGET=cpu:avx512-vnni qopt %s --qopt-set-target=target=cpu:avx2 2>&1 >/dev/null | count 0

// The host is one of the three (on the development machine: cpu:avx2).
// HOST: module attributes {qopt.target = "cpu:{{avx512-vnni|avx2|generic}}"}
// AVX2: module attributes {qopt.target = "cpu:avx2"}
// GENERIC: module attributes {qopt.target = "cpu:generic"}
// VNNI: module attributes {qopt.target = "cpu:avx512-vnni"}
// A host without AVX-512 VNNI warns that it cannot run the result; older
// targets than the host's are quiet.
// CROSS: warning: qopt-set-target: this machine cannot run code for cpu:avx512-vnni (it supports cpu:avx2)
module {
}

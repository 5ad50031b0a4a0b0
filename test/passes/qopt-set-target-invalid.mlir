// RUN: qopt %s --qopt-set-target=target=tpu -verify-diagnostics

// expected-error @+1 {{qopt-set-target: target must be host, cpu:avx512-vnni, cpu:avx2 or cpu:generic, got 'tpu'}}
module {
}

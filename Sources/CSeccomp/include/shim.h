// Header-only module for libseccomp (linked statically: Package.swift adds
// -l:libseccomp.a). Only the compile step in Rootless imports it; the child never
// calls libseccomp, it loads the BPF bytes the parent produced.
#include <seccomp.h>

// SwiftPM needs one source file in a C target; libseccomp itself is linked statically.

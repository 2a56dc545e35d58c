// `rootless`: flags -> library. Kept thin; everything testable lives in Rootless.
import Glibc
import Rootless

let status = CLI.main(Array(CommandLine.arguments.dropFirst()))
exit(status)

// `rootless`: flags -> library. Kept thin; everything testable lives in Rootless.
import Glibc
import Rootless

let status = CLI.entry(CommandLine.arguments)
exit(status)

// `rootless`: flags -> library. Kept thin; everything testable lives in Rootless.
import Glibc
import RootlessCommands
import FastStart

// A run whose start is cached (same inputs and host facts as an earlier one) was done
// before main, by a constructor in CRootless (starts.c); what it left is taken up here.
StartCache.begin()
// argv by hand: CommandLine.arguments' generic map costs ~50 us of runtime metadata work
// in every process, and a sandbox start is a few milliseconds.
var argv: [String] = []
argv.reserveCapacity(Int(CommandLine.argc))
for i in 0..<Int(CommandLine.argc) { argv.append(String(cString: CommandLine.unsafeArgv[i]!)) }
let status = CLI.entry(argv)
// _exit, not exit: nothing is buffered (every byte went out with write(2)), and exit's
// handlers (the libraries' clean-ups) cost ~0.3 ms of every run's exit (an interleaved A/B).
_exit(status)

import RootlessCore

/// `rootless completion bash|zsh|fish`: completion scripts made from the command tables
/// (each command's options, and the values an option takes where the table lists them).
enum Completion {
    static func script(_ shell: String) -> String? {
        let cmds = Commands.all
        switch shell {
        case "bash":
            var out = "# rootless completion for bash: rootless completion bash > ~/.local/share/bash-completion/completions/rootless\n"
            out += "_rootless() {\n  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
            out +=
                "  if [ \"$COMP_CWORD\" -eq 1 ]; then COMPREPLY=($(compgen -W \"\(cmds.map(\.name).joined(separator: " ")) help\" -- \"$cur\")); return; fi\n"
            out += "  case \"${COMP_WORDS[1]}\" in\n"
            for c in cmds {
                out += "  \(c.name))\n    case \"$prev\" in\n"
                // An option whose value is written with = only (--tls-verify=false) is
                // offered whole; the others complete their value as the next word.
                func inline(_ o: (names: [String], takesValue: Bool, choices: [String], help: String, value: String?)) -> Bool {
                    o.value?.hasPrefix("=") == true
                }
                for o in c.options where !o.choices.isEmpty && !inline(o) {
                    out += "      \(o.names.joined(separator: "|"))) COMPREPLY=($(compgen -W \"\(o.choices.joined(separator: " "))\" -- \"$cur\")); return;;\n"
                }
                let files = c.options.filter { $0.takesValue && $0.choices.isEmpty && !inline($0) }.flatMap(\.names)
                if !files.isEmpty { out += "      \(files.joined(separator: "|"))) COMPREPLY=($(compgen -f -- \"$cur\")); return;;\n" }
                let words = c.options.flatMap { o in inline(o) ? o.names + o.names.flatMap { n in o.choices.map { n + "=" + $0 } } : o.names }
                out += "    esac\n    COMPREPLY=($(compgen -W \"\(words.joined(separator: " "))\" -- \"$cur\"));;\n"
            }
            out +=
                "  help) COMPREPLY=($(compgen -W \"\(cmds.map(\.name).joined(separator: " "))\" -- \"$cur\"));;\n  esac\n}\ncomplete -o default -F _rootless rootless\n"
            return out
        case "zsh":
            var out = "#compdef rootless\n# rootless completion for zsh: rootless completion zsh > \"${fpath[1]}/_rootless\"\n_rootless() {\n"
            out += "  if (( CURRENT == 2 )); then compadd -- \(cmds.map(\.name).joined(separator: " ")) help; return; fi\n  case $words[2] in\n"
            for c in cmds {
                out += "  \(c.name)) _arguments -s"
                for o in c.options {
                    for n in o.names {
                        let help = o.help.split(separator: "\n").first.map(String.init)?.replacingQuotes() ?? ""
                        let value = o.takesValue ? (o.choices.isEmpty ? ":value:_files" : ":value:(\(o.choices.joined(separator: " ")))") : ""
                        // =VALUE only: zsh's "--opt=-" form (the value in the same word, optional).
                        let spelling = o.value?.hasPrefix("=") == true ? n + "=-" : n
                        out += " '\(spelling)[\(help)]\(value)'"
                    }
                }
                out += " '*::args:_files';;\n"
            }
            out += "  esac\n}\n_rootless \"$@\"\n"
            return out
        case "fish":
            var out = "# rootless completion for fish: rootless completion fish > ~/.config/fish/completions/rootless.fish\n"
            out += "complete -c rootless -f -n __fish_use_subcommand -a '\(cmds.map(\.name).joined(separator: " ")) help'\n"
            for c in cmds {
                for o in c.options {
                    let help = o.help.split(separator: "\n").first.map(String.init)?.replacingQuotes() ?? ""
                    let longs = o.names.filter { $0.hasPrefix("--") }.map { " -l " + $0.dropFirst(2) }.joined()
                    let shorts = o.names.filter { !$0.hasPrefix("--") && $0.count == 2 }.map { " -s " + $0.dropFirst() }.joined()
                    guard !longs.isEmpty || !shorts.isEmpty else { continue }
                    let value = o.takesValue ? (o.choices.isEmpty ? " -r -F" : " -x -a '\(o.choices.joined(separator: " "))'") : ""
                    out += "complete -c rootless -n '__fish_seen_subcommand_from \(c.name)'\(longs)\(shorts)\(value) -d '\(help)'\n"
                }
            }
            return out
        default:
            return nil
        }
    }
}

extension String {
    /// For a single-quoted shell word: no ' or [ ] (zsh's description brackets).
    func replacingQuotes() -> String { String(map { $0 == "'" ? "’" : $0 == "[" ? "(" : $0 == "]" ? ")" : $0 }) }
}

// The commit a binary was built from, for `rootless --version`: a fixed-size section that
// scripts/build fills after linking (objcopy --update-section .rl_build), so the commit
// never enters the compile (a new commit does not rebuild anything). A plain
// `swift build` leaves it as below.
#include "crootless.h"

__attribute__((used, section(".rl_build"))) static const char build_info[64] = "unknown (built without scripts/build)";

const char *rl_build_info(void) { return build_info; }

// capstan-shim: the per-container shim the node agent spawns (see
// agent/runtime/shim.h). Not meant to be run by hand.
#include "agent/runtime/shim_process.h"

int main(int argc, char** argv) { return capstan::agent::runtime::shimMain(argc, argv); }

/* Profile mode (PROTOCOL.md "Profile mode"): sample CPU stacks, write the profile, exit. */
#ifndef PROFILE_H
#define PROFILE_H

#include "options.h"

/* Runs the whole profile mode after the command line is parsed; returns the exit code.
 * Every failure prints its one stderr line first. */
int profile_main(const struct profile_options *opts);

#endif /* PROFILE_H */

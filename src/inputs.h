/* smimepub command line: the list of input files (arguments, directories, --files-from). */
#ifndef SMIMEPUB_INPUTS_H
#define SMIMEPUB_INPUTS_H

#include <stddef.h>

#include "cli.h"

struct cli_inputs {
	char **paths;
	size_t n;
};

/*
 * Collects the inputs: each argument (a directory adds its regular files named like
 * certificates or mail (.pem .cer .crt .der .p7b .p7c .b64 .eml .p7s .p7m .mbox), sorted, not
 * recursing; a Maildir is passed whole to the message reader), then the lines of --files-from.
 * Returns 0, or SMP_ERR_NOFILE for an unreadable --files-from.
 */
int cli_inputs_collect(struct cli_inputs *in, const struct cli_opts *o, int expand_dirs,
		       smp_error *err);

void cli_inputs_release(struct cli_inputs *in);

#endif

/* smimepub command line: the option table behind parsing, --help and the man page check. */
#ifndef SMIMEPUB_OPTIONS_H
#define SMIMEPUB_OPTIONS_H

#include <stdio.h>

#include "cli.h"

/* Which commands an option applies to (for per-command --help). */
enum {
	CMD_INSPECT = 1 << 0,
	CMD_PUBLISH = 1 << 1,
	CMD_LOOKUP = 1 << 2,
	CMD_REMOVE = 1 << 3,
	CMD_AUDIT = 1 << 4,
	CMD_PRUNE = 1 << 5,
	CMD_HARVEST = 1 << 6,
	CMD_UNDO = 1 << 7,
	CMD_CA = 1 << 8,
	CMD_SERVE = 1 << 9,
	CMD_DIRECTORY = CMD_PUBLISH | CMD_LOOKUP | CMD_REMOVE | CMD_AUDIT | CMD_PRUNE | CMD_HARVEST |
			CMD_UNDO | CMD_CA | CMD_SERVE,
	CMD_BINDS = CMD_DIRECTORY & ~CMD_SERVE,  /* serve binds as each person who logs in */
	CMD_ALL = 0x3ff,
};

/* Command flags: what setup a command needs. */
enum {
	NEEDS_DIRECTORY = 1 << 0,   /* connects unless --dry-run / --from-ldif allow otherwise */
	WRITES = 1 << 1,            /* changes the directory: journal, --dry-run */
	RECONNECTS = 1 << 2,        /* its engine reconnects after a lost connection, so the
				       password is kept until the end (else cleared after bind) */
};

struct cli_command {
	const char *name;
	int (*fn)(struct cli_opts *o);
	unsigned mask;
	unsigned flags;
	const char *usage;
	const char *summary;
};

/* One option. */
struct opt_def {
	const char *name;   /* long name */
	int shortopt;       /* 0 when none */
	int has_arg;
	int val;
	const char *arg;    /* argument name for help: FILE and DIR complete as paths, a
			       "a|b|c" list as those words (src/completion.c) */
	unsigned cmds;      /* CMD_* it applies to */
	const char *help;   /* NULL: not shown (internal) */
};

/* The option table (NULL-name terminated). */
const struct opt_def *cli_option_table(void);

/* Writes the bash completion script generated from the two tables (src/completion.c). */
void cli_print_bash_completion(FILE *fp);

/* The command table (NULL-name terminated). */
extern const struct cli_command cli_commands[];

/*
 * Parses argv into o (options may stand before or after the command; "--" ends them),
 * after loading the configuration file. Returns the command, or NULL after printing
 * help/version (*status = 0) or a usage error (*status = 64).
 */
const struct cli_command *cli_parse(struct cli_opts *o, int argc, char **argv, int *status);

#endif

/*
 * smimepub command line: stopping on SIGINT, SIGTERM and a closed output (see stop.c).
 *
 * A signal only sets cli_stop; the engine sees it through smp_session_options.cancel and
 * stops between changes. What the run then exits with is cli_stop_exit's to say, once.
 */
#ifndef SMIMEPUB_CLI_STOP_H
#define SMIMEPUB_CLI_STOP_H

#include <signal.h>

#include "smimepub/engine.h"

/* 0, or the signal that asked the run to stop (SIGPIPE: the output went away), or
 * CLI_STOP_NOMEM. */
extern volatile sig_atomic_t cli_stop;

/*
 * Ignores SIGPIPE for the whole process (a closed pipe or a dropped connection is then an
 * EPIPE the code sees, never a death); with handle set, SIGINT and SIGTERM set cli_stop, and
 * the same signal a second time ends the process at once (the default action, restored).
 */
void cli_stop_install(int handle);

/* The output could not be written (EPIPE, a full disk): stop the run as a signal would. */
void cli_stop_output_lost(void);

/*
 * A record could not be built for lack of memory: stop the run the same way, since what it did
 * can no longer be reported whole (exit 1; audit 3).
 */
void cli_stop_no_memory(void);
#define CLI_STOP_NOMEM (-1)  /* cli_stop's value then */

/* Counts an item the run reports (for the note cli_stop_exit prints). */
void cli_stop_count(const smp_item *item);

/*
 * The exit status of a run that ended with status, after a stop when cli_stop is set: audit
 * keeps its own (3, could not complete); any other command exits 128 + the signal's number
 * (130 SIGINT, 143 SIGTERM, 141 for a closed output), as a shell reports a command that
 * signal killed; after CLI_STOP_NOMEM, 1 at least. Says on stderr what was done and what was not.
 */
int cli_stop_exit(const char *command, int is_audit, int status);

#endif
